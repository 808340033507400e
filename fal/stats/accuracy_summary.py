"""Accuracy tables in the layout of FairFAL's Tables 5/6: methods × labelled ratio, mean over seeds."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from fal.stats.cells import ratio_label
from fal.stats.metrics import final_accuracy


def accuracy_summary(
    metrics: pd.DataFrame, labels: Mapping[str, str], ratios: list[float] | None = None
) -> pd.DataFrame:
    """Mean, sample standard deviation and seed count of final-round accuracy per cell.

    Columns: setting, strategy, method (its display label), selector, labelled_ratio, mean, std, n_seeds.
    Rows follow the strategies of ``labels`` (strategy → label, in the study's order: an analysis job's
    params, so a label changes only tables); ``ratios`` (percent) restricts the columns, e.g. [15, 25, 35, 45].
    """
    acc = final_accuracy(metrics)
    if ratios is not None:
        keep = acc["labelled_ratio"].round(6).isin([round(float(r), 6) for r in ratios])
        acc = acc[keep]
    grouped = (
        acc.groupby(["setting", "strategy", "method", "selector", "labelled_ratio"], sort=False)["accuracy"]
        .agg(mean="mean", std="std", n_seeds="count")
        .reset_index()
    )
    grouped["std"] = grouped["std"].fillna(0.0)
    grouped["method"] = grouped["strategy"].map(dict(labels))
    order = {name: i for i, name in enumerate(labels)}
    grouped["_order"] = grouped["strategy"].map(order)
    grouped = grouped.sort_values(["setting", "_order", "labelled_ratio"]).drop(columns="_order")
    return grouped.reset_index(drop=True)


def accuracy_markdown(
    summary: pd.DataFrame,
    title: str,
    caption: str,
    shares: dict[tuple[str, float], float] | None = None,
    measure: str = "test accuracy",
) -> str:
    """One Markdown table per setting: Method | Sel | one column per labelled ratio (mean ± sd).

    The best mean of each column is bold (unless the column is a tie, e.g. the shared cycle 1).
    ``shares`` (``fal.stats.cells.labelled_shares``): the real labelled share of each (setting, ratio)
    under per-client budgets, shown in the column header.
    """
    shares = shares or {}
    lines = [f"# {title}", "", caption, ""]
    for setting, block in summary.groupby("setting", sort=False):
        ratios = sorted(block["labelled_ratio"].unique())
        lines += [f"## {setting}", ""]
        header = ["Method", "Sel"] + [ratio_label(r, shares.get((str(setting), float(r)))) for r in ratios]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---", "---"] + ["---:"] * len(ratios)) + "|")
        best = block.groupby("labelled_ratio")["mean"].max()
        tied = block.groupby("labelled_ratio")["mean"].agg(lambda m: m.max() - m.min() < 1e-9)
        for _, rows in block.groupby("strategy", sort=False):
            first = rows.iloc[0]
            cells = [first["method"], first["selector"]]
            for ratio in ratios:
                cell = rows[rows["labelled_ratio"] == ratio]
                if cell.empty:
                    cells.append("–")
                    continue
                mean, std, n = cell["mean"].iloc[0], cell["std"].iloc[0], int(cell["n_seeds"].iloc[0])
                text = f"{mean:.2f} ± {std:.2f}" if n > 1 else f"{mean:.2f}"
                cells.append(f"**{text}**" if abs(mean - best[ratio]) < 1e-12 and not tied[ratio] else text)
            lines.append("| " + " | ".join(cells) + " |")
        n_seeds = sorted(block["n_seeds"].unique())
        lines += [
            "",
            f"Final-round {measure} (%), mean ± sample sd over {', '.join(map(str, n_seeds))} seed(s). "
            "Bold: the best mean of its column (none where all methods tie, as in the shared cycle 1).",
            "",
        ]
    return "\n".join(lines)
