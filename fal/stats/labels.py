"""Display labels of datasets, strategies and setting keys, shared by tables and figures.

Datasets' display names are their declarations' (``DatasetSpec.label``); an analysis job gets those of its
study in its params (``info["dataset_labels"]``), so renaming one reruns only tables and figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

INFINITE_ALPHA = 1000.0
"""A Dirichlet α at or above this matches LoGo's "α = ∞" rows (the code approximates ∞ with a large value)."""


def dataset_label(dataset: str, names: Mapping[str, str]) -> str:
    """``dataset``'s display name in ``names`` (the study's ``info["dataset_labels"]``)."""
    return names.get(dataset, dataset)


def strategy_label(row: Mapping[str, Any]) -> str:
    """ "Entropy (G)", "FairFAL (G, L)", with the variant for option sweeps ("FairFAL (G, L) kappa=2")."""
    text = row["label"] if row["selector"] in ("–", "-", "") else f"{row['label']} ({row['selector']})"
    if row.get("variant"):
        text += f" [{row['variant']}]"
    return text


def key_label(key: str, value: Any, names: Mapping[str, str] | None = None) -> str:
    """How a setting attribute's value reads in a table or figure; datasets by ``names``."""
    if key == "dataset":
        if names is None:
            raise ValueError("a dataset label needs the study's dataset names (info['dataset_labels'])")
        return dataset_label(value, names)
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


def labels_of(frame: pd.DataFrame, keys: list[str], names: Mapping[str, str]) -> list[str]:
    """Each row's label over ``keys`` (datasets by ``names``)."""
    out = []
    for _, row in frame.iterrows():
        parts = []
        for key in keys:
            parts.append(strategy_label(row) if key == "strategy" else key_label(key, row[key], names))
        out.append(", ".join(parts) if parts else "")
    return out


def varying_keys(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys that take more than one value (those a label must show)."""
    return [k for k in keys if frame[k].astype(str).nunique() > 1]


def ordered_unique(values: Iterable[Any]) -> list:
    return list(dict.fromkeys(values))
