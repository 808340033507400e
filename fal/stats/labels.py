"""Display labels of datasets, strategies and setting keys, shared by tables and figures."""

from __future__ import annotations

import pandas as pd

from fal.config.datasets import DATASET_LABELS

INFINITE_ALPHA = 1000.0
"""A Dirichlet α at or above this matches LoGo's "α = ∞" rows (the code approximates ∞ with a large value)."""


def dataset_label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def strategy_label(row) -> str:
    """ "Entropy (G)", "FairFAL (G, L)", with the variant for option sweeps ("FairFAL (G, L) kappa=2")."""
    text = row["label"] if row["selector"] in ("–", "-", "") else f"{row['label']} ({row['selector']})"
    if row.get("variant"):
        text += f" [{row['variant']}]"
    return text


def key_label(key: str, value) -> str:
    if key == "dataset":
        return dataset_label(value)
    if key == "rho":
        return "natural" if pd.isna(value) else f"ρ={value:g}"
    if key == "alpha":
        return "α=∞" if value >= INFINITE_ALPHA else f"α={value:g}"
    if key == "num_clients":
        return f"{int(value)} clients"
    if key == "labelled_ratio":
        return f"{value:g}%"
    if key == "client_fraction":
        return f"{value * 100:g} % of clients per round"
    return str(value)


def labels_of(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    out = []
    for _, row in frame.iterrows():
        parts = []
        for key in keys:
            parts.append(strategy_label(row) if key == "strategy" else key_label(key, row[key]))
        out.append(", ".join(parts) if parts else "")
    return out


def varying_keys(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys that take more than one value (those a label must show)."""
    return [k for k in keys if frame[k].astype(str).nunique() > 1]


def ordered_unique(values) -> list:
    return list(dict.fromkeys(values))
