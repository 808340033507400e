"""The KAFAL paper's tables (ICCV 2023): Tables 2 and 3 (accuracy in its native setting) and Table 1
(communication rounds each federated update needs to reach KCFU's accuracy)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fal.config.outputs import PaperTable
from fal.config.setting import SETTING_AXES
from fal.stats.cells import AccuracyLayout, accuracy_table, setting_frame, strategy_frame
from fal.stats.labels import labels_of, varying_keys
from fal.stats.published import match_published

OUTPUTS = (
    PaperTable(
        "kafal_table4",
        "KAFAL Table 4: mean AUC on NIH ChestX-ray14 (multi-label, ResNet-50, 5 clients)",
        heading="KAFAL Table 4: mean AUC (%) per labelled ratio on multi-label chest X-rays",
        entry="kafal_table4",
        legend="Cells: the global model's test AUC of each of the 14 labels, averaged over the labels that have "
        "both outcomes in the test set (scikit-learn's roc_auc_score), in %, mean ± sample sd over seeds.",
        multi_label=True,
    ),
    PaperTable(
        "kafal_table2_3",
        "KAFAL Tables 2 and 3: CIFAR-10 / CIFAR-100 in KAFAL's native setting (ResNet-8, KCFU for every method)",
        heading="KAFAL Tables 2 and 3: CIFAR-10 / CIFAR-100 accuracy per labelled ratio in KAFAL's native setting",
        entry="kafal_table2_3",
    ),
    PaperTable(
        "kafal_table1",
        "KAFAL Table 1: rounds each federated update needs to reach KCFU's accuracy after 15 rounds",
        heading="KAFAL Table 1: communication rounds each federated update needs to reach the reference update's accuracy",
        entry="kafal_table1",
        legend="Cells: the first round of cycle 1 at which the seed-mean test accuracy reaches the reference strategy's "
        "(`analysis.reference_strategy`) seed-mean accuracy at round `analysis.reference_round`; > R: not within the cycle's R rounds.",
    ),
)

TABLE4 = AccuracyLayout(
    (("KAFAL", "4"),),
    blocks=("dataset", "alpha", "num_clients", *SETTING_AXES),
    rows=("strategy",),
    columns=("labelled_ratio",),
    statistic="mean_auc",
)


def kafal_table4(
    metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean AUC (%) per labelled ratio: the multi-label study's headline metric sits in the accuracy
    columns (fal.federated.training.evaluate_multilabel), so the accuracy layout applies."""
    return accuracy_table(metrics, info, TABLE4, published)


LAYOUT = AccuracyLayout(
    (("KAFAL", "2"), ("KAFAL", "3")),
    blocks=("alpha", "num_clients", *SETTING_AXES),
    rows=("strategy",),
    columns=("dataset", "rho", "labelled_ratio"),
)


def kafal_table2_3(
    metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return accuracy_table(metrics, info, LAYOUT, published)


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
    strategies = strategy_frame(info).drop(columns="variant")
    strategies["variant"] = [s.get("update", "") for s in info["strategies"]]

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
        .merge(setting_frame(info), on="setting", how="left")
        .merge(strategies, on="strategy", how="inner")
    )
    per_seed = per_seed.merge(setting_frame(info), on="setting", how="left").merge(
        strategies, on="strategy", how="inner"
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
    blocks = varying_keys(cells, ["alpha", "num_clients", *SETTING_AXES])
    cells["block"] = labels_of(cells, blocks, info["dataset_labels"]) if blocks else ""
    cells["row"] = labels_of(cells, ["strategy"], info["dataset_labels"])
    cells["column"] = labels_of(cells, ["dataset", *varying_keys(cells, ["rho"])], info["dataset_labels"])
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
