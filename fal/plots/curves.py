"""Accuracy versus labelled ratio, one line per method, one panel per setting."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from fal.stats.labels import dataset_label
from fal.stats.metrics import final_accuracy


def method_label(method: str, selector: str) -> str:
    return method if selector in ("–", "-", "") else f"{method} ({selector})"


def setting_label(row: pd.Series, dataset_labels: Mapping[str, str]) -> str:
    parts = [dataset_label(row["dataset"], dataset_labels)]
    if pd.notna(row["rho"]):
        parts.append(f"ρ = {row['rho']:g}")
    parts += [f"α = {row['alpha']:g}", f"{int(row['num_clients'])} clients"]
    return ", ".join(parts)


def accuracy_curves(
    metrics: pd.DataFrame, labels: Mapping[str, str], title: str, dataset_labels: Mapping[str, str], measure: str
) -> plt.Figure:
    """Mean final-round test accuracy (``measure``, in words) ± sd over seeds against the labelled ratio (% of R).

    Methods are drawn with error bars, dodged slightly along x so that they stay readable.
    """
    acc = final_accuracy(metrics)
    acc["Method"] = [method_label(labels[name], s) for name, s in zip(acc["strategy"], acc["selector"])]
    order = []
    for name in labels:
        rows = acc[acc["strategy"] == name]
        if len(rows):
            order.append(rows["Method"].iloc[0])
    settings = list(dict.fromkeys(acc["setting"]))
    sns.set_theme(style="whitegrid", context="paper")
    palette = dict(zip(order, sns.color_palette("colorblind", len(order))))
    markers = dict(zip(order, ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"] * 4))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.8 * len(settings), 3.9), squeeze=False, sharey=True)
    for ax, setting in zip(axes[0], settings):
        sub = acc[acc["setting"] == setting]
        ratios = sorted(sub["labelled_ratio"].unique())
        step = min(np.diff(ratios)) if len(ratios) > 1 else 1.0
        for i, method in enumerate(order):
            rows = sub[sub["Method"] == method]
            stats = rows.groupby("labelled_ratio")["accuracy"].agg(["mean", "std"]).fillna(0.0)
            offset = (i - (len(order) - 1) / 2) * 0.06 * step
            ax.errorbar(
                stats.index + offset,
                stats["mean"],
                yerr=stats["std"],
                label=method,
                color=palette[method],
                marker=markers[method],
                markersize=5,
                capsize=2.5,
                linewidth=1.4,
                elinewidth=0.9,
            )
        n_seeds = sub.groupby(["strategy", "labelled_ratio"])["seed"].nunique().max()
        ax.set_title(
            f"{setting_label(sub.iloc[0], dataset_labels)}\nmean ± sd over {n_seeds} seed{'s' if n_seeds != 1 else ''}",
            fontsize=9,
        )
        ax.set_xlabel("Labelled samples (% of training set)")
        ax.set_ylabel(f"Final-round {measure} (%)")
        ax.set_xticks(ratios)
    axes[0][-1].legend(title="Method", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, png: str | Path, pdf: str | Path | None = None) -> None:
    from fal.io import atomic_path

    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    if pdf is not None:
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})  # reproducible bytes
    plt.close(fig)
