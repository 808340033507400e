"""What every paper table is built from: per-seed values of a study and the accuracy-table layout.

A study is described by its *analysis info* (``Study.analysis_info()`` in fal.config): plain data about
its settings, strategies, seeds and protocol, so this module never needs Snakemake or the config
classes. A table is a frame of cells with columns ``block`` (one sub-table each), ``row``, ``column``,
``text`` (the reproduced value as shown), the numbers (``mean``, ``std``, ``n_seeds``), ``published``,
``difference`` (reproduced − published) and ``source`` (paper, table, row, column). Tables are generic
over the study: rows or columns that the study lacks are absent, and strategies, settings, backbones or
FL algorithms that the paper did not have show up without a published value. The tables themselves
live in one module per paper (``fal.stats.papers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fal.config.setting import SETTING_AXES
from fal.stats.labels import labels_of, ordered_unique, varying_keys
from fal.stats.paired import aulc
from fal.stats.published import match_published

SETTING_KEYS = ["dataset", "rho", "alpha", "num_clients", *SETTING_AXES]
STRATEGY_KEYS = ["strategy", "method", "selector", "variant", "label"]


# ------------------------------------------------------------------------------------------------
# Study description and per-seed values


def setting_frame(info: dict) -> pd.DataFrame:
    rows = []
    for setting_id, attrs in info["settings"].items():
        row = {"setting": setting_id, **{k: attrs.get(k) for k in SETTING_KEYS}}
        row["rho"] = np.nan if row["rho"] is None else float(row["rho"])
        row["alpha"] = float(row["alpha"])
        row["fl_algorithm"] = row["fl_algorithm"] or "fedavg"
        if row["client_fraction"] is None:  # not an axis of this study: the protocol's
            row["client_fraction"] = float(info.get("protocol", {}).get("client_fraction", 1.0))
        rows.append(row)
    return pd.DataFrame(rows, columns=["setting", *SETTING_KEYS])


def strategy_frame(info: dict) -> pd.DataFrame:
    rows = [
        {
            "strategy": s["name"],
            "method": s["method"],
            "selector": s["selector"],
            "variant": s.get("variant", ""),
            "label": s["label"],
        }
        for s in info["strategies"]
    ]
    return pd.DataFrame(rows, columns=STRATEGY_KEYS)


def per_seed_accuracy(metrics: pd.DataFrame, info: dict, measure: str = "final") -> pd.DataFrame:
    """One row per (setting, strategy, seed, cycle): the accuracy (%) with setting and strategy attributes.

    measure "final": the last round's test accuracy of each cycle (FairFAL); "last5": the mean of the
    last five rounds (LoGo's convention, §8.2).
    """
    keys = ["setting", "strategy", "seed", "cycle", "labelled_ratio"]
    if measure == "final":
        acc = metrics.loc[metrics["metric"] == "final_test_acc", keys + ["value"]]
    elif measure == "last5":
        rounds = metrics.loc[metrics["metric"] == "test_acc", keys + ["round", "value"]].sort_values(keys + ["round"])
        acc = rounds.groupby(keys, sort=False)["value"].apply(lambda v: v.tail(5).mean()).reset_index()
    else:
        raise ValueError(f"accuracy measure must be 'final' or 'last5', got {measure!r}")
    acc = acc.rename(columns={"value": "accuracy"})
    acc = acc.merge(setting_frame(info), on="setting", how="left").merge(
        strategy_frame(info), on="strategy", how="inner"
    )
    order = {s["name"]: i for i, s in enumerate(info["strategies"])}
    setting_order = {s: i for i, s in enumerate(info["settings"])}
    acc = acc.assign(_s=acc["setting"].map(setting_order), _o=acc["strategy"].map(order))
    return acc.sort_values(["_s", "_o", "seed", "cycle"]).drop(columns=["_s", "_o"]).reset_index(drop=True)


def select_ratios(values: pd.DataFrame, which: str, table_ratios: Sequence[float] | None) -> pd.DataFrame:
    """Keep the table's labelled ratios: "table" (the study's table_ratios, else all), "final" (the last), "all"."""
    if which == "final":
        last = values.groupby("setting")["labelled_ratio"].transform("max")
        return values[values["labelled_ratio"] == last]
    if which == "table" and table_ratios:
        wanted = {round(float(r), 6) for r in table_ratios}
        return values[values["labelled_ratio"].round(6).isin(wanted)]
    return values


def labelled_shares(metrics: pd.DataFrame) -> dict[tuple[str, float], float]:
    """(setting, nominal labelled ratio) → the real labelled share (%) where the runs recorded one
    (per-client budgets round each client's share up); empty under FairFAL's equal budgets."""
    shares = metrics[metrics["metric"] == "labelled_share"]
    if shares.empty:
        return {}
    mean = shares.groupby(["setting", "labelled_ratio"])["value"].mean()
    return {(str(s), float(r)): float(v) for (s, r), v in mean.items()}


def ratio_label(ratio: float, share: float | None) -> str:
    """A labelled-ratio column: "10%", or "10% (10.01% labelled)" when the real share differs."""
    if share is None or abs(share - ratio) < 0.005:
        return f"{ratio:g}%"
    return f"{ratio:g}% ({share:.2f}% labelled)"


# ------------------------------------------------------------------------------------------------
# Accuracy tables


@dataclass(frozen=True)
class AccuracyLayout:
    """How an accuracy table lays out its cells: which published table(s) it matches, what varies
    between blocks, rows and columns, which labelled ratios and which accuracy measure it shows."""

    published: tuple[tuple[str, str], ...]
    blocks: tuple[str, ...]
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    ratios: str = "table"
    measure: str = "final"
    note: str = ""
    statistic: str = ""
    """The published rows' statistic the cells match; "" = "accuracy" (or "accuracy_last5")."""


def _fmt(mean: float, std: float, n: int, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def accuracy_table(
    metrics: pd.DataFrame, info: dict, layout: AccuracyLayout, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, per-seed values) of an accuracy table laid out by ``layout`` for this study."""
    measure = info.get("analysis", {}).get("accuracy") or layout.measure
    values = per_seed_accuracy(metrics, info, measure)
    values = select_ratios(values, layout.ratios, info.get("table_ratios"))
    keys = ["setting", *SETTING_KEYS, *STRATEGY_KEYS, "labelled_ratio"]
    cells = (
        values.groupby(keys, sort=False, dropna=False)["accuracy"]
        .agg(mean="mean", std="std", n_seeds="count")
        .reset_index()
    )
    cells["std"] = cells["std"].fillna(0.0)
    if info.get("compare_published", True):
        match_keys = [
            "dataset",
            "rho",
            "alpha",
            "num_clients",
            "model",
            "method",
            "selector",
            "variant",
            "labelled_ratio",
        ]
        statistic = layout.statistic or ("accuracy_last5" if measure == "last5" else "accuracy")
        cells = match_published(cells, published, list(layout.published), statistic, match_keys)
    else:
        cells = match_published(cells, None, [], "", [])
    cells["difference"] = cells["mean"] - cells["published_value"]
    blocks = varying_keys(cells, list(layout.blocks))
    cells["block"] = labels_of(cells, blocks, info["dataset_labels"]) if blocks else ""
    row_keys = list(layout.rows)
    col_keys = [
        k for k in layout.columns if k == "labelled_ratio" or k == "strategy" or cells[k].astype(str).nunique() > 1
    ] or list(layout.columns[-1:])
    cells["row"] = labels_of(cells, row_keys, info["dataset_labels"])
    cells["column"] = labels_of(cells, col_keys, info["dataset_labels"])
    shares = labelled_shares(metrics)
    if shares and "labelled_ratio" in col_keys:  # per-client budgets: say what was really labelled
        others = [k for k in col_keys if k != "labelled_ratio"]
        prefix = labels_of(cells, others, info["dataset_labels"]) if others else [""] * len(cells)
        cells["column"] = [
            ", ".join(filter(None, [p, ratio_label(r, shares.get((s, float(r))))]))
            for p, s, r in zip(prefix, cells["setting"], cells["labelled_ratio"])
        ]
    cells["text"] = [_fmt(m, s, n) for m, s, n in zip(cells["mean"], cells["std"], cells["n_seeds"])]
    cells = _order_columns(cells, col_keys)
    return cells, values


def _order_columns(cells: pd.DataFrame, col_keys: list[str]) -> pd.DataFrame:
    """Sort so that columns come out in a readable order (dataset order of the study, ratios ascending)."""
    sort_keys = []
    for key in col_keys:
        if key in ("labelled_ratio", "alpha", "num_clients"):
            sort_keys.append(key)
    if not sort_keys:
        return cells.reset_index(drop=True)
    first = {k: {v: i for i, v in enumerate(ordered_unique(cells[k]))} for k in col_keys if k not in sort_keys}
    tmp = cells.copy()
    for k, mapping in first.items():
        tmp[f"_{k}"] = tmp[k].map(mapping)
    tmp["_row"] = tmp["row"].map({v: i for i, v in enumerate(ordered_unique(tmp["row"]))})
    tmp["_block"] = tmp["block"].map({v: i for i, v in enumerate(ordered_unique(tmp["block"]))})
    order = ["_block", "_row", *[f"_{k}" for k in first], *sort_keys]
    return (
        tmp.sort_values(order, kind="stable")
        .drop(columns=[c for c in tmp.columns if c.startswith("_")])
        .reset_index(drop=True)
    )


def aulc_per_seed(values: pd.DataFrame, x_unit: str = "percent") -> pd.DataFrame:
    """AULC of each (setting, strategy, seed) curve over all its labelled ratios."""
    keys = ["setting", *SETTING_KEYS, *STRATEGY_KEYS, "seed"]
    rows = []
    for key, block in values.groupby(keys, sort=False, dropna=False):
        rows.append((*key, aulc(block["labelled_ratio"], block["accuracy"], x_unit), len(block)))
    return pd.DataFrame(rows, columns=[*keys, "aulc", "n_ratios"])
