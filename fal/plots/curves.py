"""Accuracy versus labelled ratio, one line per method, one panel per setting."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from fal.stats.metrics import final_accuracy  # noqa: E402


def method_label(method: str, selector: str) -> str:
    return method if selector in ("–", "-", "") else f"{method} ({selector})"


def accuracy_curves(metrics: pd.DataFrame, strategy_order: list[str], title: str) -> plt.Figure:
    """Mean final-round test accuracy ± sd over seeds against the labelled ratio (% of R)."""
    acc = final_accuracy(metrics)
    acc["Method"] = [method_label(m, s) for m, s in zip(acc["method"], acc["selector"])]
    order = []
    for name in strategy_order:
        rows = acc[acc["strategy"] == name]
        if len(rows):
            order.append(rows["Method"].iloc[0])
    settings = list(dict.fromkeys(acc["setting"]))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(settings), figsize=(4.6 * len(settings), 3.8), squeeze=False, sharey=False)
    for ax, setting in zip(axes[0], settings):
        sub = acc[acc["setting"] == setting]
        sns.lineplot(
            data=sub, x="labelled_ratio", y="accuracy", hue="Method", hue_order=order, style="Method",
            style_order=order, markers=True, dashes=False, errorbar="sd", ax=ax, legend=ax is axes[0][-1],
        )
        n_seeds = sub.groupby(["strategy", "labelled_ratio"])["seed"].nunique().max()
        ax.set_title(f"{setting}\n(mean ± sd over {n_seeds} seed{'s' if n_seeds != 1 else ''})", fontsize=9)
        ax.set_xlabel("Labelled samples (% of training set)")
        ax.set_ylabel("Final-round test accuracy (%)")
        ax.set_xticks(sorted(sub["labelled_ratio"].unique()))
    handles = axes[0][-1].get_legend()
    if handles is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="Method")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, png: str | Path, pdf: str | Path | None = None) -> None:
    from fal.io import atomic_path

    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    if pdf is not None:
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", bbox_inches="tight")
    plt.close(fig)
