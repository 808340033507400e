"""The papers' tables from a study's metrics: cells, published values beside them, CSV/Markdown/LaTeX.

Every table is built from whatever the study contains: rows or columns that the study lacks are
simply absent, and strategies, settings, backbones or FL algorithms that the paper did not have show
up without a published value. A study is described by its *analysis info* (``Study.analysis_info()``
in fal.config): plain data about its settings, strategies, seeds and protocol, so this module never
needs Snakemake or the config classes.

A table is a frame of cells with columns ``block`` (one sub-table each), ``row``, ``column``, ``text``
(the reproduced value as shown), the numbers (``mean``, ``std``, ``n_seeds``), ``published``,
``difference`` (reproduced − published) and ``source`` (paper, table, row, column).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fal.stats.emd import local_global_emd
from fal.stats.labels import labels_of, ordered_unique, strategy_label, varying_keys
from fal.stats.logo import WinRateOptions, penalty_matrix
from fal.stats.paired import aulc, paired_comparison
from fal.stats.published import match_published

SETTING_KEYS = ["dataset", "rho", "alpha", "num_clients", "model", "fl_algorithm"]
STRATEGY_KEYS = ["strategy", "method", "selector", "variant", "label"]


# ------------------------------------------------------------------------------------------------
# Study description and per-seed values


def _setting_frame(info: dict) -> pd.DataFrame:
    rows = []
    for setting_id, attrs in info["settings"].items():
        row = {"setting": setting_id, **{k: attrs.get(k) for k in SETTING_KEYS}}
        row["rho"] = np.nan if row["rho"] is None else float(row["rho"])
        row["alpha"] = float(row["alpha"])
        row["fl_algorithm"] = row["fl_algorithm"] or "fedavg"
        rows.append(row)
    return pd.DataFrame(rows, columns=["setting", *SETTING_KEYS])


def _strategy_frame(info: dict) -> pd.DataFrame:
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
    acc = acc.merge(_setting_frame(info), on="setting", how="left").merge(
        _strategy_frame(info), on="strategy", how="inner"
    )
    order = {s["name"]: i for i, s in enumerate(info["strategies"])}
    setting_order = {s: i for i, s in enumerate(info["settings"])}
    acc = acc.assign(_s=acc["setting"].map(setting_order), _o=acc["strategy"].map(order))
    return acc.sort_values(["_s", "_o", "seed", "cycle"]).drop(columns=["_s", "_o"]).reset_index(drop=True)


def select_ratios(values: pd.DataFrame, which: str, table_ratios) -> pd.DataFrame:
    """Keep the table's labelled ratios: "table" (the study's table_ratios, else all), "final" (the last), "all"."""
    if which == "final":
        last = values.groupby("setting")["labelled_ratio"].transform("max")
        return values[values["labelled_ratio"] == last]
    if which == "table" and table_ratios:
        wanted = {round(float(r), 6) for r in table_ratios}
        return values[values["labelled_ratio"].round(6).isin(wanted)]
    return values


# ------------------------------------------------------------------------------------------------
# Accuracy tables (FairFAL 2, 3, 5/6, 7, 8, 9; LoGo 3)


@dataclass(frozen=True)
class AccuracyLayout:
    title: str
    published: tuple[tuple[str, str], ...]
    blocks: tuple[str, ...]
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    ratios: str = "table"
    measure: str = "final"
    note: str = ""


ACCURACY_LAYOUTS: dict[str, AccuracyLayout] = {
    "table5_6": AccuracyLayout(
        "FairFAL Tables 5 (α = 0.1) and 6 (α = 100): accuracy per method and labelled ratio",
        (("FairFAL", "5"), ("FairFAL", "6")),
        blocks=("alpha", "num_clients", "model", "fl_algorithm"),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
    ),
    "table2": AccuracyLayout(
        "FairFAL Table 2: ablation, final-round accuracy at the last labelled ratio",
        (("FairFAL", "2"),),
        blocks=("dataset", "num_clients", "model", "fl_algorithm"),
        rows=("alpha", "rho"),
        columns=("strategy",),
        ratios="final",
        note="Published columns are cumulative ablations; a strategy matches one through its options (e.g. kappa=2).",
    ),
    "table3": AccuracyLayout(
        "FairFAL Table 3: medical datasets, final-round accuracy at the last labelled ratio",
        (("FairFAL", "3"),),
        blocks=("alpha", "num_clients", "model", "fl_algorithm"),
        rows=("dataset",),
        columns=("strategy",),
        ratios="final",
    ),
    "table7": AccuracyLayout(
        "FairFAL Table 7: FairFAL's uncertainty measure",
        (("FairFAL", "7"),),
        blocks=("dataset", "rho", "num_clients", "model", "fl_algorithm"),
        rows=("strategy",),
        columns=("alpha", "labelled_ratio"),
    ),
    "table8": AccuracyLayout(
        "FairFAL Table 8: FairFAL's model-selection threshold δ",
        (("FairFAL", "8"),),
        blocks=("dataset", "rho", "num_clients", "model", "fl_algorithm"),
        rows=("strategy",),
        columns=("alpha", "labelled_ratio"),
    ),
    "table9": AccuracyLayout(
        "FairFAL Table 9: backbones, final-round accuracy at the last labelled ratio",
        (("FairFAL", "9"),),
        blocks=("dataset", "rho", "num_clients", "fl_algorithm"),
        rows=("strategy",),
        columns=("model", "alpha"),
        ratios="final",
    ),
    "logo_table3": AccuracyLayout(
        "LoGo Table 3: accuracy (mean of the last 5 rounds) per method and labelled ratio",
        (("LoGo", "3"),),
        blocks=("alpha", "num_clients", "model", "fl_algorithm"),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
        measure="last5",
    ),
    "kafal_table2_3": AccuracyLayout(
        "KAFAL Tables 2 and 3: CIFAR-10 / CIFAR-100 accuracy per labelled ratio in KAFAL's native setting",
        (("KAFAL", "2"), ("KAFAL", "3")),
        blocks=("alpha", "num_clients", "model", "fl_algorithm"),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
    ),
    "logo_table4": AccuracyLayout(
        "LoGo Table 4: ensembles of the global and local model vs LoGo, accuracy (mean of the last 5 rounds)",
        (("LoGo", "4"),),
        blocks=("alpha", "num_clients", "model", "fl_algorithm"),
        rows=("strategy",),
        columns=("dataset", "rho", "labelled_ratio"),
        measure="last5",
    ),
}


def _fmt(mean: float, std: float, n: int, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def accuracy_table(
    metrics: pd.DataFrame, info: dict, name: str, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, per-seed values) of accuracy table ``name`` for this study."""
    layout = ACCURACY_LAYOUTS[name]
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
        statistic = "accuracy_last5" if measure == "last5" else "accuracy"
        cells = match_published(cells, published, list(layout.published), statistic, match_keys)
    else:
        cells = match_published(cells, None, [], "", [])
    cells["difference"] = cells["mean"] - cells["published_value"]
    blocks = varying_keys(cells, list(layout.blocks))
    cells["block"] = labels_of(cells, blocks) if blocks else ""
    row_keys = list(layout.rows)
    col_keys = [
        k for k in layout.columns if k == "labelled_ratio" or k == "strategy" or cells[k].astype(str).nunique() > 1
    ] or list(layout.columns[-1:])
    cells["row"] = labels_of(cells, row_keys)
    cells["column"] = labels_of(cells, col_keys)
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


# ------------------------------------------------------------------------------------------------
# FairFAL Table 1: G vs L, AULC paired statistics


def aulc_per_seed(values: pd.DataFrame, x_unit: str = "percent") -> pd.DataFrame:
    """AULC of each (setting, strategy, seed) curve over all its labelled ratios."""
    keys = ["setting", *SETTING_KEYS, *STRATEGY_KEYS, "seed"]
    rows = []
    for key, block in values.groupby(keys, sort=False, dropna=False):
        rows.append((*key, aulc(block["labelled_ratio"], block["accuracy"], x_unit), len(block)))
    return pd.DataFrame(rows, columns=[*keys, "aulc", "n_ratios"])


SIGNIFICANCE = 0.05
"""Table 1 marks a side "n.s." (not a significant winner) when its one-sided Wilcoxon p is at least this."""


def table1(metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """G vs L per method with both selectors: (winner, π⁺, one-sided Wilcoxon p, HL in pp) of AULC."""
    analysis = info.get("analysis", {})
    values = per_seed_accuracy(metrics, info, analysis.get("accuracy") or "final")
    areas = aulc_per_seed(values, analysis.get("aulc_x_unit", "percent"))
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
    cells = pd.DataFrame(
        rows,
        columns=[
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
        ],
    )
    if cells.empty:
        cells = cells.assign(
            block="", row="", column="", text="", published="", published_value=np.nan, source="", difference=np.nan
        )
        return cells, areas
    cells["selector"] = "G vs L"
    cells["labelled_ratio"] = np.nan
    compare = info.get("compare_published", True)
    for stat in ("winner", "positive_ratio", "wilcoxon_p", "hodges_lehmann"):
        matched = match_published(
            cells,
            published if compare else None,
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
    # the paper's HL is signed towards its winner; compare on G − L so that a flipped winner shows
    signed = np.where(cells["winner"] == "G", cells["hodges_lehmann"], -cells["hodges_lehmann"])
    pub_signed = np.where(cells["published_winner"] == "G", cells["published_value"], -cells["published_value"])
    cells["difference"] = signed - pub_signed
    cells["source"] = np.where(cells["published"] != "", winner_source, "")
    blocks = varying_keys(cells, ["num_clients", "model", "fl_algorithm"])
    cells["block"] = labels_of(cells, blocks) if blocks else ""
    cells["row"] = labels_of(cells, ["dataset", "rho", "alpha"])
    cells["column"] = [lab if not v else f"{lab} [{v}]" for lab, v in zip(cells["label"], cells["variant"])]
    cells["mean"] = cells["hodges_lehmann"]
    cells["std"] = np.nan
    cells["text"] = [
        f"({w}{'' if p < SIGNIFICANCE else ' n.s.'}, {pi:.2f}, {p:.2f}, {hl:.0f})"
        for w, pi, p, hl in zip(cells["winner"], cells["positive_ratio"], cells["wilcoxon_p"], cells["hodges_lehmann"])
    ]
    return cells, areas


# ------------------------------------------------------------------------------------------------
# LoGo Table 2: local and global EMD of the query sets


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
    out = out.merge(_setting_frame(info), on="setting", how="left").merge(
        _strategy_frame(info), on="strategy", how="inner"
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
    blocks = varying_keys(cells, ["num_clients", "model", "fl_algorithm"])
    cells["block"] = labels_of(cells, blocks) if blocks else ""
    cells["row"] = [
        f"{s}: {st}" for s, st in zip(labels_of(cells, ["dataset", "rho", "alpha"]), labels_of(cells, ["strategy"]))
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


# ------------------------------------------------------------------------------------------------
# LoGo's penalty matrix as a table


def penalty_table(
    metrics: pd.DataFrame,
    info: dict,
    published: pd.DataFrame | None = None,  # noqa: ARG001 (same signature as the other builders; no published penalties)
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


# ------------------------------------------------------------------------------------------------
# Registry


# ------------------------------------------------------------------------------------------------
# KAFAL Table 1: communication rounds to reach KCFU's accuracy


def rounds_to_reach(curve: pd.Series, benchmark: float) -> float:
    """The first round (index of ``curve``, ascending) whose accuracy is >= ``benchmark``; NaN if none."""
    reached = curve.index[curve.to_numpy() >= benchmark - 1e-9]
    return float(reached[0]) if len(reached) else float("nan")


def kafal_table1(
    metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rounds of cycle 1 each strategy's federated update needs to reach the test accuracy the reference
    strategy (``analysis.reference_strategy``, the paper's KCFU) has after ``analysis.reference_round``
    rounds. Cells use the seed-mean accuracy curves; the per-seed values compare each seed's curve with
    that seed's own benchmark. Not reached within the cycle's rounds: "> R"."""
    analysis = info.get("analysis", {})
    reference, at = analysis.get("reference_strategy"), int(analysis.get("reference_round", 15))
    strategies = {s["name"] for s in info["strategies"]}
    if reference not in strategies:
        raise ValueError(
            f"kafal_table1 needs analysis.reference_strategy, one of {sorted(strategies)}; got {reference!r}"
        )
    rounds = metrics.loc[
        (metrics["metric"] == "test_acc") & (metrics["cycle"] == 1), ["setting", "strategy", "seed", "round", "value"]
    ].astype({"round": int})
    strategy_frame = _strategy_frame(info).drop(columns="variant")
    strategy_frame["variant"] = [s.get("update", "") for s in info["strategies"]]

    def needed(curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        at_reference = curves[(curves["strategy"] == reference) & (curves["round"] == at)]
        benchmarks = {tuple(row[k] for k in keys): float(row["value"]) for _, row in at_reference.iterrows()}
        out = []
        for key, curve in curves.groupby([*keys, "strategy"], sort=False):
            benchmark = benchmarks.get(key[:-1], float("nan"))  # NaN (reference round not run): never reached
            series = curve.set_index("round")["value"].sort_index()
            out.append(
                {
                    **dict(zip(keys, key[:-1])),
                    "strategy": key[-1],
                    "rounds": rounds_to_reach(series, benchmark),
                    "benchmark": benchmark,
                    "of_rounds": int(series.index.max()),
                }
            )
        return pd.DataFrame(out, columns=[*keys, "strategy", "rounds", "benchmark", "of_rounds"])

    per_seed = needed(rounds, ["setting", "seed"])
    mean_curves = rounds.groupby(["setting", "strategy", "round"], sort=False)["value"].mean().reset_index()
    cells = needed(mean_curves, ["setting"])
    n_seeds = rounds.groupby(["setting", "strategy"])["seed"].nunique().rename("n_seeds").reset_index()
    cells = (
        cells.merge(n_seeds, on=["setting", "strategy"])
        .merge(_setting_frame(info), on="setting", how="left")
        .merge(strategy_frame, on="strategy", how="inner")
    )
    per_seed = per_seed.merge(_setting_frame(info), on="setting", how="left").merge(
        strategy_frame, on="strategy", how="inner"
    )
    cells = cells.assign(mean=cells["rounds"], std=0.0, labelled_ratio=100 * info["protocol"]["initial_ratio"])
    cells = match_published(
        cells,
        published if info.get("compare_published", True) else None,
        [("KAFAL", "1")],
        "rounds_to_reference",
        ["dataset", "rho", "alpha", "num_clients", "model", "method", "variant"],
    )
    cells["difference"] = cells["mean"] - cells["published_value"]
    blocks = varying_keys(cells, ["alpha", "num_clients", "model", "fl_algorithm"])
    cells["block"] = labels_of(cells, blocks) if blocks else ""
    cells["row"] = labels_of(cells, ["strategy"])
    cells["column"] = labels_of(cells, ["dataset", *varying_keys(cells, ["rho"])])
    cells["text"] = [
        "–" if np.isnan(b) else f"> {n}" if np.isnan(r) else f"{r:.0f}"
        for r, b, n in zip(cells["rounds"], cells["benchmark"], cells["of_rounds"])
    ]
    order = {s["name"]: i for i, s in enumerate(info["strategies"])}
    setting_order = {s: i for i, s in enumerate(info["settings"])}
    cells = (
        cells.assign(_o=cells["strategy"].map(order), _s=cells["setting"].map(setting_order))
        .sort_values(["_o", "_s"], kind="stable")
        .drop(columns=["_o", "_s"])
        .reset_index(drop=True)
    )
    return cells, per_seed


TABLE_BUILDERS: dict[str, Callable[[pd.DataFrame, dict, pd.DataFrame | None], tuple[pd.DataFrame, pd.DataFrame]]] = {
    "table1": table1,
    **{name: (lambda m, i, p, _n=name: accuracy_table(m, i, _n, p)) for name in ACCURACY_LAYOUTS},
    "logo_table2": logo_table2,
    "logo_penalty": penalty_table,
    "kafal_table1": kafal_table1,
}


def build_table(
    name: str, metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if name not in TABLE_BUILDERS:
        raise ValueError(f"unknown table {name!r}; available: {sorted(TABLE_BUILDERS)}")
    return TABLE_BUILDERS[name](metrics, info, published)
