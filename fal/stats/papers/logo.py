"""LoGo's tables (CVPR 2023): Table 2 (EMD of the query sets), the accuracy Tables 3 and 4 (mean of the last
5 rounds) and its pairwise penalty matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fal.config.outputs import PaperTable
from fal.config.setting import SETTING_AXES
from fal.stats.cells import (
    SETTING_KEYS,
    STRATEGY_KEYS,
    AccuracyLayout,
    accuracy_table,
    per_seed_accuracy,
    setting_frame,
    strategy_frame,
)
from fal.stats.emd import local_global_emd
from fal.stats.labels import labels_of, ordered_unique, strategy_label, varying_keys
from fal.stats.logo import WinRateOptions, penalty_matrix
from fal.stats.published import match_published

OUTPUTS = (
    PaperTable(
        "logo_table2",
        "LoGo Table 2: local and global EMD of query class distributions",
        heading="LoGo Table 2: local and global EMD of the query sets (lower = more balanced)",
        entry="logo_table2",
        legend="EMD = ½·Σ_c |q_c − 1/C| (total variation to uniform; `analysis.emd: l1` drops the ½). Local: mean over "
        "clients of each client's query set; global: all clients' queries together. The first column is the random initial set.",
    ),
    PaperTable(
        "logo_table3",
        "LoGo Table 3: accuracy as mean of the last 5 rounds",
        heading="LoGo Table 3: accuracy (mean of the last 5 rounds) per method and labelled ratio",
        entry="logo_table3",
    ),
    PaperTable(
        "logo_table4",
        "LoGo Table 4: ensembles of the global and local model vs LoGo (mean of the last 5 rounds)",
        heading="LoGo Table 4: ensembles of the global and local model vs LoGo, accuracy (mean of the last 5 rounds)",
        entry="logo_table4",
    ),
    PaperTable(
        "logo_penalty",
        "LoGo penalty matrix: pairwise winning rates summed over settings",
        heading="LoGo's pairwise penalty matrix: cell (i, j) = winning rate of row i over column j (share of AL rounds i wins by a paired t-test), summed over settings; last row: mean over i of column j",
        entry="penalty_table",
        legend="win^{ij} per setting from a paired t-test over seeds at every AL round (LoGo's notebook conventions unless "
        "`analysis.win_rate: corrected`), summed over settings; last row: mean over the other strategies of each column.",
    ),
)

LAYOUTS = {
    "logo_table3": AccuracyLayout(
        (("LoGo", "3"),),
        blocks=("alpha", "num_clients", *SETTING_AXES),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
        measure="last5",
    ),
    "logo_table4": AccuracyLayout(
        (("LoGo", "4"),),
        blocks=("alpha", "num_clients", *SETTING_AXES),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
        measure="last5",
    ),
}


def logo_table3(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["logo_table3"], published)


def logo_table4(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["logo_table4"], published)


def emd_values(metrics: pd.DataFrame, info: dict, half: bool = True) -> pd.DataFrame:
    """Per (setting, strategy, seed, cycle): local and global EMD of that round's query sets.

    Cycle 1 is the random initial labelled set (LoGo's 10 % column); later cycles use what the query
    that produced them chose (``queried_count``).
    """
    num_classes = {}
    rows = []
    first = metrics[(metrics["metric"] == "labelled_count") & (metrics["cycle"] == 1)]
    queried = metrics[metrics["metric"] == "queried_count"]
    for frame in (first, queried):
        for (setting, strategy, seed, cycle, ratio), block in frame.groupby(
            ["setting", "strategy", "seed", "cycle", "labelled_ratio"], sort=False
        ):
            if setting not in num_classes:
                num_classes[setting] = (
                    int(metrics.loc[(metrics["setting"] == setting) & metrics["class"].notna(), "class"].max()) + 1
                )
            counts = block[["client", "class", "value"]].astype({"client": int, "class": int})
            local, global_ = local_global_emd(counts, num_classes[setting], half)
            rows.append((setting, strategy, seed, cycle, ratio, local, global_))
    out = pd.DataFrame(
        rows, columns=["setting", "strategy", "seed", "cycle", "labelled_ratio", "emd_local", "emd_global"]
    )
    out = out.merge(setting_frame(info), on="setting", how="left").merge(
        strategy_frame(info), on="strategy", how="inner"
    )
    order = {s["name"]: i for i, s in enumerate(info["strategies"])}
    return (
        out.assign(_o=out["strategy"].map(order))
        .sort_values(["setting", "_o", "seed", "cycle"])
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def logo_table2(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    half = info.get("analysis", {}).get("emd", "half") == "half"
    values = emd_values(metrics, info, half)
    keys = ["setting", *SETTING_KEYS, *STRATEGY_KEYS, "labelled_ratio"]
    parts = []
    for stat in ("emd_local", "emd_global"):
        cells = (
            values.groupby(keys, sort=False, dropna=False)[stat]
            .agg(mean="mean", std="std", n_seeds="count")
            .reset_index()
        )
        cells["std"] = cells["std"].fillna(0.0)
        cells = match_published(
            cells,
            published if info.get("compare_published", True) else None,
            [("LoGo", "2")],
            stat,
            ["dataset", "rho", "alpha", "num_clients", "method", "selector", "labelled_ratio"],
        )
        cells["statistic"] = stat
        parts.append(cells)
    cells = pd.concat(parts, ignore_index=True)
    cells["difference"] = cells["mean"] - cells["published_value"]
    blocks = varying_keys(cells, ["num_clients", *SETTING_AXES])
    cells["block"] = labels_of(cells, blocks, info["dataset_labels"]) if blocks else ""
    cells["row"] = [
        f"{s}: {st}"
        for s, st in zip(
            labels_of(cells, ["dataset", "rho", "alpha"], info["dataset_labels"]),
            labels_of(cells, ["strategy"], info["dataset_labels"]),
        )
    ]
    cells["column"] = [
        f"{'local' if st == 'emd_local' else 'global'} {r:g}%"
        for st, r in zip(cells["statistic"], cells["labelled_ratio"])
    ]
    cells["text"] = [
        f"{m:.3f} ± {s:.3f}" if n > 1 else f"{m:.3f}" for m, s, n in zip(cells["mean"], cells["std"], cells["n_seeds"])
    ]
    order = {"emd_local": 0, "emd_global": 1}
    cells = cells.assign(
        _r=cells["row"].map({v: i for i, v in enumerate(ordered_unique(cells["row"]))}),
        _s=cells["statistic"].map(order),
    )
    cells = (
        cells.sort_values(["_r", "_s", "labelled_ratio"], kind="stable")
        .drop(columns=["_r", "_s"])
        .reset_index(drop=True)
    )
    return cells, values


def penalty_table(
    metrics: pd.DataFrame,
    info: dict,
    published: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """P_ij summed over the study's settings; the last row is the mean number of times j is defeated."""
    analysis = info.get("analysis", {})
    values = per_seed_accuracy(metrics, info, analysis.get("accuracy") or "final")
    options = WinRateOptions.preset(analysis.get("win_rate", "faithful"))
    matrix = penalty_matrix(values, options)
    labels = {
        s["name"]: strategy_label({"label": s["label"], "selector": s["selector"], "variant": s.get("variant", "")})
        for s in info["strategies"]
    }
    rows = []
    for i in matrix.index:
        for j in matrix.columns:
            value = matrix.loc[i, j]
            rows.append(
                {
                    "block": "",
                    "row": labels.get(i, i),
                    "column": labels[j],
                    "mean": value,
                    "std": np.nan,
                    "n_seeds": values["seed"].nunique(),
                    "text": "–" if i == j else f"{value:.2f}",
                    "published": "",
                    "published_value": np.nan,
                    "difference": np.nan,
                    "source": "",
                }
            )
    return pd.DataFrame(rows), values
