"""Published values (``workflow/published/values.csv``) and matching them to reproduced table cells."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fal.stats.labels import INFINITE_ALPHA

METHOD_ALIASES = {
    "lc": "least_confidence",
    "leastconf": "least_confidence",
    "conf": "least_confidence",
    "kcenter": "coreset",
    "core_set": "coreset",
    "alfamix": "alfa_mix",
    "kafal": "ksas",  # the papers' "KAFAL" row is KAFAL's query (KSAS); registry name ksas
}
"""Registry names other spellings map to, so published rows match whatever a method is registered as."""


def load_published(path: str | Path) -> pd.DataFrame:
    """The published values file (one row per number, with paper, table, row, column and match keys)."""
    pub = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("rho", "labelled_ratio", "num_clients"):
        pub[col] = pd.to_numeric(pub[col].replace("", np.nan))
    pub["alpha"] = pub["alpha"].astype(float)  # "inf" parses to infinity
    return pub


def _canonical_method(name: str) -> str:
    return METHOD_ALIASES.get(name, name)


def _number(value: Any) -> float:
    return float("nan") if value is None or value is pd.NA or value == "" else float(value)


def _key_matches(key: str, ours: Any, theirs: Any) -> bool:
    """rho NaN = natural imbalance; alpha >= 1000 matches alpha = inf; methods through their aliases."""
    if key == "method":
        return _canonical_method(str(ours)) == _canonical_method(str(theirs))
    if key in ("rho", "alpha", "labelled_ratio", "num_clients"):
        a, b = _number(ours), _number(theirs)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if key == "alpha" and math.isinf(b):
            return a >= INFINITE_ALPHA
        return abs(a - b) < 1e-6
    return str("" if ours is None else ours) == str(theirs)


def match_published(
    cells: pd.DataFrame, published: pd.DataFrame | None, tables: list[tuple[str, str]], statistic: str, keys: list[str]
) -> pd.DataFrame:
    """Attach ``published`` (text), ``published_value`` (float when numeric) and ``source`` to each cell.

    A cell matches a published row of one of ``tables`` with the same statistic when every key in
    ``keys`` agrees (rho NaN = natural imbalance, α ≥ 1000 matches α = ∞, methods through their aliases).
    """
    cells = cells.copy()
    cells["published"] = ""
    cells["published_value"] = np.nan
    cells["source"] = ""
    if published is None or cells.empty:
        return cells
    in_tables = pd.Series(list(zip(published["paper"], published["table"])), index=published.index).isin(tables)
    wanted = published[in_tables & (published["statistic"] == statistic)]
    if wanted.empty:
        return cells
    candidates = wanted.to_dict("records")  # plain dicts: a row-by-row Series is slow for large studies
    for idx, cell in zip(cells.index, cells.to_dict("records")):
        if str(cell.get("fl_algorithm") or "fedavg") != "fedavg":
            continue  # every published number is FedAvg
        for pub in candidates:
            if all(_key_matches(key, cell[key], pub[key]) for key in keys):
                cells.at[idx, "published"] = pub["value"]
                try:
                    cells.at[idx, "published_value"] = float(pub["value"])
                except ValueError:
                    pass
                cells.at[idx, "source"] = (
                    f"{pub['paper']} Table {pub['table']}, row {pub['row']}, column {pub['column']}"
                )
                break
    return cells
