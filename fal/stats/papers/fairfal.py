"""FairFAL's tables (CVPR 2026): Table 1 (G vs L, paired AULC statistics) and the accuracy tables 2, 3,
5/6, 7, 8 and 9."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fal.config.outputs import PaperTable
from fal.config.setting import SETTING_AXES
from fal.stats.cells import (
    SETTING_KEYS,
    AccuracyLayout,
    accuracy_table,
    aulc_per_seed,
    per_seed_accuracy,
)
from fal.stats.labels import labels_of, varying_keys
from fal.stats.paired import paired_comparison
from fal.stats.published import match_published

OUTPUTS = (
    PaperTable(
        "table1",
        "FairFAL Table 1: G vs L selectors, paired AULC statistics (winner, π⁺, Wilcoxon p, Hodges–Lehmann)",
        heading="FairFAL Table 1: G vs L query selectors, paired AULC statistics over seeds",
        entry="table1",
        legend="Cells: (winner, π⁺, one-sided exact Wilcoxon p, Hodges–Lehmann estimate of AULC(winner) − AULC(loser)); "
        "the winner is the side with the larger Hodges–Lehmann estimate, marked n.s. when p ≥ 0.05. "
        "AULC: trapezoidal area of final-round accuracy (%) over the labelled ratio (%), in pp·%. "
        "Δ compares the Hodges–Lehmann estimates signed as G − L, so a flipped winner shows.",
    ),
    PaperTable(
        "table2",
        "FairFAL Table 2: ablation, final-round accuracy at the last labelled ratio",
        heading="FairFAL Table 2: ablation, final-round accuracy at the last labelled ratio",
        entry="table2",
    ),
    PaperTable(
        "table3",
        "FairFAL Table 3: medical datasets, final-round accuracy",
        heading="FairFAL Table 3: medical datasets, final-round accuracy at the last labelled ratio",
        entry="table3",
    ),
    PaperTable(
        "table5_6",
        "FairFAL Tables 5 and 6: methods × labelled ratio, one block per α",
        heading="FairFAL Tables 5 (α = 0.1) and 6 (α = 100): accuracy per method and labelled ratio",
        entry="table5_6",
    ),
    PaperTable(
        "table7",
        "FairFAL Table 7: FairFAL's uncertainty measure",
        heading="FairFAL Table 7: FairFAL's uncertainty measure",
        entry="table7",
    ),
    PaperTable(
        "table8",
        "FairFAL Table 8: FairFAL's threshold δ",
        heading="FairFAL Table 8: FairFAL's model-selection threshold δ",
        entry="table8",
    ),
    PaperTable(
        "table9",
        "FairFAL Table 9: backbones",
        heading="FairFAL Table 9: backbones, final-round accuracy at the last labelled ratio",
        entry="table9",
    ),
)

LAYOUTS = {
    "table5_6": AccuracyLayout(
        (("FairFAL", "5"), ("FairFAL", "6")),
        blocks=("alpha", "num_clients", *SETTING_AXES),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
    ),
    "table2": AccuracyLayout(
        (("FairFAL", "2"),),
        blocks=("dataset", "num_clients", *SETTING_AXES),
        rows=("alpha", "rho"),
        columns=("strategy",),
        ratios="final",
        note="Published columns are cumulative ablations; a strategy matches one through its options (e.g. kappa=2).",
    ),
    "table3": AccuracyLayout(
        (("FairFAL", "3"),),
        blocks=("alpha", "num_clients", *SETTING_AXES),
        rows=("dataset",),
        columns=("strategy",),
        ratios="final",
    ),
    "table7": AccuracyLayout(
        (("FairFAL", "7"),),
        blocks=("dataset", "rho", "num_clients", *SETTING_AXES),
        rows=("strategy",),
        columns=("alpha", "labelled_ratio"),
    ),
    "table8": AccuracyLayout(
        (("FairFAL", "8"),),
        blocks=("dataset", "rho", "num_clients", *SETTING_AXES),
        rows=("strategy",),
        columns=("alpha", "labelled_ratio"),
    ),
    "table9": AccuracyLayout(
        (("FairFAL", "9"),),
        blocks=("dataset", "rho", "num_clients", *(k for k in SETTING_AXES if k != "model")),
        rows=("strategy",),
        columns=("model", "alpha"),
        ratios="final",
    ),
}


def table2(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["table2"], published)


def table3(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["table3"], published)


def table5_6(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["table5_6"], published)


def table7(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["table7"], published)


def table8(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["table8"], published)


def table9(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUTS["table9"], published)


SIGNIFICANCE = 0.05
"""Table 1 marks a side "n.s." (not a significant winner) when its one-sided Wilcoxon p is at least this."""


TABLE1_COLUMNS = [
    "setting",
    *SETTING_KEYS,
    "method",
    "variant",
    "label",
    "winner",
    "positive_ratio",
    "wilcoxon_p",
    "hodges_lehmann",
    "mean_difference",
    "n_seeds",
]


def _g_vs_l(areas: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, method, variant) with both selectors: the paired G-vs-L comparison of AULC."""
    rows = []
    for (setting, method, variant), block in areas.groupby(["setting", "method", "variant"], sort=False):
        g = block[block["selector"] == "G"]
        local = block[block["selector"] == "L"]
        if g.empty or local.empty:
            continue
        paired = g.merge(local, on="seed", suffixes=("_g", "_l"))
        res = paired_comparison(paired["aulc_g"], paired["aulc_l"], "G", "L")
        first = block.iloc[0]
        rows.append(
            {
                "setting": setting,
                **{k: first[k] for k in SETTING_KEYS},
                "method": method,
                "variant": variant,
                "label": first["label"],
                "winner": res.winner,
                "positive_ratio": res.positive_ratio,
                "wilcoxon_p": res.p_value,
                "hodges_lehmann": res.hodges_lehmann,
                "mean_difference": res.mean_difference,
                "n_seeds": res.n,
            }
        )
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def _table1_published(cells: pd.DataFrame, published: pd.DataFrame | None) -> None:
    """The published (winner, π⁺, p, HL) beside each cell, in place, and the HL difference signed G − L
    (the paper's HL is signed towards its winner, so a flipped winner shows)."""
    winner_source: pd.Series | str = ""
    for stat in ("winner", "positive_ratio", "wilcoxon_p", "hodges_lehmann"):
        matched = match_published(
            cells,
            published,
            [("FairFAL", "1")],
            stat,
            ["dataset", "rho", "alpha", "num_clients", "model", "method", "variant"],
        )
        cells[f"published_{stat}"] = matched["published"]
        if stat == "winner":
            winner_source = matched["source"]
    cells["published"] = [
        "" if not w else f"({w}, {pi}, {p}, {hl})"
        for w, pi, p, hl in zip(
            cells["published_winner"],
            cells["published_positive_ratio"],
            cells["published_wilcoxon_p"],
            cells["published_hodges_lehmann"],
        )
    ]
    cells["published_value"] = pd.to_numeric(cells["published_hodges_lehmann"].replace("", np.nan))
    signed = np.where(cells["winner"] == "G", cells["hodges_lehmann"], -cells["hodges_lehmann"])
    pub_signed = np.where(cells["published_winner"] == "G", cells["published_value"], -cells["published_value"])
    cells["difference"] = signed - pub_signed
    cells["source"] = np.where(cells["published"] != "", winner_source, "")


def table1(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """G vs L per method with both selectors: (winner, π⁺, one-sided Wilcoxon p, HL in pp) of AULC."""
    analysis = info.get("analysis", {})
    values = per_seed_accuracy(metrics, info, analysis.get("accuracy") or "final")
    areas = aulc_per_seed(values, analysis.get("aulc_x_unit", "percent"))
    cells = _g_vs_l(areas)
    if cells.empty:
        cells = cells.assign(
            block="", row="", column="", text="", published="", published_value=np.nan, source="", difference=np.nan
        )
        return cells, areas
    cells["selector"] = "G vs L"
    cells["labelled_ratio"] = np.nan
    _table1_published(cells, published if info.get("compare_published", True) else None)
    blocks = varying_keys(cells, ["num_clients", *SETTING_AXES])
    cells["block"] = labels_of(cells, blocks, info["dataset_labels"]) if blocks else ""
    cells["row"] = labels_of(cells, ["dataset", "rho", "alpha"], info["dataset_labels"])
    cells["column"] = [lab if not v else f"{lab} [{v}]" for lab, v in zip(cells["label"], cells["variant"])]
    cells["mean"] = cells["hodges_lehmann"]
    cells["std"] = np.nan
    cells["text"] = [
        f"({w}{'' if p < SIGNIFICANCE else ' n.s.'}, {pi:.2f}, {p:.2f}, {hl:.0f})"
        for w, pi, p, hl in zip(cells["winner"], cells["positive_ratio"], cells["wilcoxon_p"], cells["hodges_lehmann"])
    ]
    return cells, areas
