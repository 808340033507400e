"""Distance of query class distributions to uniform, LoGo's local and global EMD (reference-spec §8.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def emd_to_uniform(counts: ArrayLike, half: bool = True) -> float:
    """EMD with 0/1 ground distance between the class distribution of ``counts`` and uniform.

    ``half=True`` gives ½·Σ|q_c − 1/C| (total variation, what LoGo's Table 2 magnitudes imply);
    ``half=False`` the plain L1 distance (Zhao et al.). An empty set has no distribution: NaN.
    """
    c = np.asarray(counts, dtype=float)
    total = c.sum()
    if total <= 0:
        return float("nan")
    distance = float(np.abs(c / total - 1.0 / c.size).sum())
    return distance / 2.0 if half else distance


def local_global_emd(counts: pd.DataFrame, num_classes: int, half: bool = True) -> tuple[float, float]:
    """(local, global) EMD of one round's queried sets.

    ``counts`` has columns client, class, value (samples of that class the client queried). Local =
    mean over clients that queried anything of each client's EMD; global = EMD of all clients'
    queries together.
    """
    table = counts.pivot_table(index="client", columns="class", values="value", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=range(num_classes), fill_value=0.0)
    per_client = [emd_to_uniform(row, half) for row in table.to_numpy()]
    per_client = [v for v in per_client if np.isfinite(v)]
    local = float(np.mean(per_client)) if per_client else float("nan")
    return local, emd_to_uniform(table.to_numpy().sum(axis=0), half)
