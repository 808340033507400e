"""The panels the papers' figures are drawn from: a study's metrics (and partition files for class
frequencies and client × class counts). The figures themselves are declared per paper in
``fal.plots.papers``.

Generic over what the study contains: one panel per setting (or per group of settings that differ only
in the compared dimension), one line per strategy; G selectors solid, L dashed, methods using both models or neither (Random) dotted.
Every function returns a matplotlib Figure; ``fal.plots.curves.save_figure`` writes PNG and PDF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from fal.stats.cells import SETTING_AXES, per_seed_accuracy
from fal.stats.labels import key_label, strategy_label
from fal.stats.logo import (
    LOGO_CATEGORIES,
    WinRateOptions,
    penalty_matrix,
    selector_pairs,
    win_defeat_percentages,
    winning_rate_gaps,
)

LINESTYLES = {"G": "-", "L": "--"}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]


def _setting_title(
    row: Mapping[str, Any], names: Mapping[str, str], keys: Sequence[str] = ("dataset", "rho", "alpha", "num_clients")
) -> str:
    return ", ".join(key_label(k, row[k], names) for k in keys)


def _palette(labels: list[str]) -> dict[str, tuple]:
    return dict(zip(labels, sns.color_palette("colorblind", max(len(labels), 1))))


def _seeds_text(n: int) -> str:
    return f"mean ± sd over {n} seed{'s' if n != 1 else ''}"


def _method_key(row: Mapping[str, Any]) -> str:
    """Colour key: the method (with variant), so G and L of one method share a colour."""
    return row["label"] + (f" [{row['variant']}]" if row["variant"] else "")


SELECTOR_LEGEND = "solid: global-model selector (G), dashed: local-only (L), dotted: both models or neither (Random)"


def learning_curves(
    metrics: pd.DataFrame,
    info: dict,
    title: str,
    compare: str | None = None,
    linestyles: dict[str, str] | None = None,
    legend: str = SELECTOR_LEGEND,
) -> plt.Figure:
    """Accuracy (%) against labelled ratio (%), mean ± sd over seeds (FairFAL Figs. 1, 3, 5, 6).

    One panel per group of settings; ``compare`` names a setting attribute (num_clients, fl_algorithm)
    drawn in one panel with different markers instead of separate panels (Figs. 5 and 6).
    ``linestyles``: the line style of each selector (default G solid, L dashed; others dotted), described
    by ``legend`` under the title.
    """
    styles = LINESTYLES if linestyles is None else linestyles
    acc = per_seed_accuracy(metrics, info, info.get("analysis", {}).get("accuracy") or "final")
    acc["line"] = [strategy_label(r) for _, r in acc.iterrows()]
    acc["colour"] = [_method_key(r) for _, r in acc.iterrows()]
    panel_keys = [k for k in ("dataset", "rho", "alpha", "num_clients") if k != compare]
    panel_keys += [k for k in SETTING_AXES if k != compare and acc[k].astype(str).nunique() > 1]
    acc["panel"] = [_setting_title(r, info["dataset_labels"], panel_keys) for _, r in acc.iterrows()]
    panels = list(dict.fromkeys(acc["panel"]))
    compared = list(dict.fromkeys(acc[compare])) if compare else [None]
    colours = _palette(list(dict.fromkeys(acc["colour"])))
    sns.set_theme(style="whitegrid", context="paper")
    ncols = min(len(panels), 3)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.9 * nrows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        sub = acc[acc["panel"] == panel]
        ratios = sorted(sub["labelled_ratio"].unique())
        for k, value in enumerate(compared):
            part = sub if compare is None else sub[sub[compare] == value]
            for line, rows in part.groupby("line", sort=False):
                first = rows.iloc[0]
                stats = rows.groupby("labelled_ratio")["accuracy"].agg(["mean", "std"]).fillna(0.0)
                label = line if compare is None else f"{line}, {key_label(compare, value, info['dataset_labels'])}"
                ax.errorbar(
                    stats.index,
                    stats["mean"],
                    yerr=stats["std"],
                    label=label,
                    color=colours[first["colour"]],
                    linestyle=styles.get(first["selector"], ":"),
                    marker=MARKERS[k % len(MARKERS)],
                    markersize=4,
                    capsize=2.5,
                    linewidth=1.4,
                    elinewidth=0.8,
                )
        n_seeds = sub.groupby(["strategy", "labelled_ratio"])["seed"].nunique().max()
        ax.set_title(f"{panel}\n{_seeds_text(n_seeds)}", fontsize=9)
        ax.set_xlabel("Labelled samples (% of training set)")
        ax.set_ylabel("Test accuracy (%)")
        ax.set_xticks(ratios)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title}\n{legend}", fontsize=10)
    fig.tight_layout()
    return fig


def class_groups(num_classes: int) -> dict[str, list[int]]:
    """Majority / intermediate / minority thirds of the class ranking: 3 / 4 / 3 classes for C = 10."""
    top = int(round(0.3 * num_classes))
    bottom = int(round(0.3 * num_classes))
    return {
        "majority": list(range(top)),
        "intermediate": list(range(top, num_classes - bottom)),
        "minority": list(range(num_classes - bottom, num_classes)),
    }


def sampling_shares(metrics: pd.DataFrame, class_counts: dict[str, np.ndarray]) -> pd.DataFrame:
    """Cumulative share (%) of queried samples in each class group, per (setting, strategy, seed, cycle).

    Classes are ranked by their frequency in the setting's training set (``class_counts``); group
    shares are cumulated over all queries up to and including that cycle's.
    """
    queried = metrics[metrics["metric"] == "queried_count"]
    rows = []
    for (setting, strategy, seed), block in queried.groupby(["setting", "strategy", "seed"], sort=False):
        counts = np.asarray(class_counts[setting], dtype=float)
        ranking = np.argsort(-counts, kind="stable")
        groups = class_groups(len(counts))
        per_cycle = block.pivot_table(
            index=["cycle", "labelled_ratio"], columns="class", values="value", aggfunc="sum", fill_value=0.0
        )
        per_cycle = per_cycle.reindex(columns=range(len(counts)), fill_value=0.0).cumsum()
        for (cycle, ratio), row in per_cycle.iterrows():
            total = row.sum()
            for group, ranks in groups.items():
                share = 100.0 * row[ranking[ranks]].sum() / total if total else np.nan
                rows.append(
                    (
                        setting,
                        strategy,
                        seed,
                        cycle,
                        ratio,
                        group,
                        share,
                        100.0 * counts[ranking[ranks]].sum() / counts.sum(),
                    )
                )
    return pd.DataFrame(
        rows, columns=["setting", "strategy", "seed", "cycle", "labelled_ratio", "group", "share", "train_share"]
    )


def sampling_proportions(
    metrics: pd.DataFrame, info: dict, class_counts: dict[str, np.ndarray], title: str
) -> plt.Figure:
    """FairFAL Fig. 2: rows = settings, columns = class groups, lines = strategies; dashed grey = training-set share."""
    shares = sampling_shares(metrics, class_counts)
    labels = {s["name"]: strategy_label(s) for s in info["strategies"]}
    settings = [s for s in info["settings"] if s in set(shares["setting"])]
    groups = ["majority", "intermediate", "minority"]
    colours = _palette([labels[s["name"]] for s in info["strategies"]])
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(max(len(settings), 1), 3, figsize=(13, 3.4 * max(len(settings), 1)), squeeze=False)
    for r, setting in enumerate(settings):
        attrs = info["settings"][setting]
        sub = shares[shares["setting"] == setting]
        for c, group in enumerate(groups):
            ax = axes[r][c]
            part = sub[sub["group"] == group]
            for strategy in [s["name"] for s in info["strategies"]]:
                rows = part[part["strategy"] == strategy]
                if rows.empty:
                    continue
                stats = rows.groupby("labelled_ratio")["share"].agg(["mean", "std"]).fillna(0.0)
                ax.errorbar(
                    stats.index,
                    stats["mean"],
                    yerr=stats["std"],
                    label=labels[strategy],
                    color=colours[labels[strategy]],
                    marker="o",
                    markersize=4,
                    capsize=2.5,
                    linewidth=1.4,
                )
            if len(part):
                ax.axhline(
                    part["train_share"].iloc[0],
                    color="grey",
                    linestyle="--",
                    linewidth=1,
                    label="share in training set",
                )
            n = len(class_groups(len(class_counts[setting]))[group])
            row = {
                "dataset": attrs["dataset"],
                "rho": np.nan if attrs.get("rho") is None else attrs["rho"],
                "alpha": attrs["alpha"],
                "num_clients": attrs["num_clients"],
            }
            ax.set_title(
                f"{_setting_title(row, info['dataset_labels'])}\n{group} classes ({n} by training frequency)",
                fontsize=9,
            )
            ax.set_xlabel("Labelled samples (% of training set)")
            ax.set_ylabel("Cumulative share of queried samples (%)")
            ax.set_xticks(sorted(part["labelled_ratio"].unique()))
        axes[r][-1].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def partition_heatmaps(partitions: dict[str, pd.DataFrame], info: dict, title: str) -> plt.Figure:
    """FairFAL Fig. 4: training images per client (rows) and class (columns), one panel per setting."""
    settings = [s for s in info["settings"] if s in partitions]
    sns.set_theme(style="white", context="paper")
    ncols = min(len(settings), 2)
    nrows = int(np.ceil(len(settings) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows), squeeze=False)
    for ax, setting in zip(axes.flat, settings):
        part = partitions[setting]
        train = part[part["split"] == "train"]
        table = train.groupby(["client", "label"]).size().unstack(fill_value=0)
        attrs = info["settings"][setting]
        num_classes = int(part["label"].max()) + 1
        table = table.reindex(index=range(attrs["num_clients"]), columns=range(num_classes), fill_value=0)
        annotate = table.size <= 200
        sns.heatmap(
            table,
            ax=ax,
            cmap="viridis",
            annot=annotate,
            fmt="d",
            annot_kws={"fontsize": 6},
            cbar_kws={"label": "training images"},
        )
        row = {
            "dataset": attrs["dataset"],
            "rho": np.nan if attrs.get("rho") is None else attrs["rho"],
            "alpha": attrs["alpha"],
            "num_clients": attrs["num_clients"],
        }
        ax.set_title(_setting_title(row, info["dataset_labels"]), fontsize=9)
        ax.set_xlabel("Class")
        ax.set_ylabel("Client")
    for ax in axes.flat[len(settings) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def penalty_heatmap(metrics: pd.DataFrame, info: dict, title: str) -> plt.Figure:
    """LoGo's pairwise penalty matrix: cell (i, j) = Σ over settings of win^{ij}; last row: mean defeated."""
    analysis = info.get("analysis", {})
    acc = per_seed_accuracy(metrics, info, analysis.get("accuracy") or "final")
    matrix = penalty_matrix(acc, WinRateOptions.preset(analysis.get("win_rate", "faithful")))
    labels = {s["name"]: strategy_label(s) for s in info["strategies"]}
    matrix = matrix.rename(index=labels, columns=labels)
    mask = np.zeros(matrix.shape, dtype=bool)
    for k in range(matrix.shape[1]):
        mask[k, k] = True
    n = len(matrix.columns)
    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(1.1 * n + 3, 0.8 * n + 2))
    sns.heatmap(
        matrix,
        mask=mask,
        annot=True,
        fmt=".2f",
        cmap="rocket_r",
        vmin=0,
        ax=ax,
        cbar_kws={"label": f"win rate summed over {acc['setting'].nunique()} setting(s)"},
    )
    ax.axhline(n, color="white", linewidth=3)
    ax.set_xlabel("Strategy j (defeated)")
    ax.set_ylabel("Strategy i (winner)")
    ax.set_title(
        f"{title}\n{acc['seed'].nunique()} seeds, win-rate convention: {analysis.get('win_rate', 'faithful')}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def class_counts_from_partition(partition: pd.DataFrame) -> np.ndarray:
    train = partition[partition["split"] == "train"]
    return np.bincount(train["label"].to_numpy().astype(int), minlength=int(partition["label"].max()) + 1)


def winning_gap_plot(metrics: pd.DataFrame, info: dict, title: str) -> plt.Figure:
    """LoGo Fig. 2: the gap between the global and the local-only selector's winning rates (Eq. 6)
    against the global imbalance ρ, one marker per local heterogeneity α, one panel per method that the
    study runs with both selectors (the paper's: Entropy on CIFAR-10)."""
    analysis = info.get("analysis", {})
    acc = per_seed_accuracy(metrics, info, analysis.get("accuracy") or "final")
    gaps = winning_rate_gaps(acc, selector_pairs(info), WinRateOptions.preset(analysis.get("win_rate", "faithful")))
    gaps["rho"] = pd.to_numeric(gaps["rho"], errors="coerce").fillna(1.0)  # a balanced dataset: ρ = 1
    methods = list(dict.fromkeys(gaps["method"])) or ["(no method with both a G and an L strategy)"]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(methods), figsize=(4.8 * len(methods), 3.9), squeeze=False)
    for ax, method in zip(axes.flat, methods):
        sub = gaps[gaps["method"] == method]
        rhos = sorted(sub["rho"].unique())
        positions = {rho: i for i, rho in enumerate(rhos)}
        for k, (alpha, rows) in enumerate(sub.groupby("alpha", sort=True)):
            rows = rows.assign(x=rows["rho"].map(positions)).sort_values("x")
            ax.plot(rows["x"], rows["gap"], marker=MARKERS[k % len(MARKERS)], label=key_label("alpha", alpha))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xticks(range(len(rhos)), [f"{float(r):g}" for r in rhos])
        ax.set_xlabel("Global imbalance ratio ρ")
        ax.set_ylabel("win(global) − win(local-only)")
        ax.set_title(method, fontsize=9)
        if len(sub):
            ax.legend(fontsize=7, frameon=False)
    fig.suptitle(
        f"{title}\n+1: the global model's selector wins every tested round, −1: the local-only one", fontsize=10
    )
    fig.tight_layout()
    return fig


def win_defeat_bars(metrics: pd.DataFrame, info: dict, title: str, method: str) -> plt.Figure:
    """LoGo Fig. 4: per category (Overall, then each one the study varies), the percentage of cases in
    which the study's strategy of ``method`` beats each baseline method (coloured bars) and is beaten by
    it (black hatched bars over them), by LoGo's t-test winning rate (Eq. 6)."""
    reference = next((s["name"] for s in info["strategies"] if s["method"] == method), f"a {method} strategy")
    analysis = info.get("analysis", {})
    acc = per_seed_accuracy(metrics, info, analysis.get("accuracy") or "final")
    rates = win_defeat_percentages(acc, info, reference, WinRateOptions.preset(analysis.get("win_rate", "faithful")))
    categories = list(dict.fromkeys(rates["category"])) or ["Overall"]
    methods = list(dict.fromkeys(rates["method"]))
    colours = _palette(methods)
    sns.set_theme(style="whitegrid", context="paper")
    widths = [max(1, rates[rates["category"] == c]["value"].astype(str).nunique()) for c in categories]
    fig, axes = plt.subplots(
        1,
        len(categories),
        figsize=(1.2 + 1.6 * sum(widths) + 0.6 * len(methods), 3.9),
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
    )
    bar = 0.8 / max(len(methods), 1)
    for ax, category in zip(axes.flat, categories):
        sub = rates[rates["category"] == category]
        values = list(dict.fromkeys(sub["value"]))
        for i, value in enumerate(values):
            for m, method in enumerate(methods):
                row = sub[(sub["value"] == value) & (sub["method"] == method)]
                if row.empty:
                    continue
                x = i - 0.4 + bar * (m + 0.5)
                ax.bar(x, row["win"].iloc[0], bar, color=colours[method], label=method if i == 0 else None)
                ax.bar(
                    x, row["defeat"].iloc[0], bar * 0.6, color="none", edgecolor="black", hatch="////", linewidth=0.6
                )
        key = next((k for k, t in LOGO_CATEGORIES if t == category), None)
        ax.set_xticks(
            range(len(values)),
            [str(v) if key in (None, "selector") else key_label(key, v, info["dataset_labels"]) for v in values],
        )
        ax.set_ylim(0, 100)
        ax.set_title(category, fontsize=9)
        ax.set_ylabel("% of cases" if ax is axes.flat[0] else "")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    hatch = plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="black", hatch="////")
    fig.legend(
        [*handles, hatch],
        [*labels, "LoGo defeated by it"],
        fontsize=7,
        frameon=False,
        loc="lower center",
        ncol=min(len(labels) + 1, 7),
    )
    fig.suptitle(
        f"{title}\ncoloured: LoGo beats the method (t-test winning rate, Eq. 6), hatched: the method beats LoGo",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
