"""LoGo's figures (CVPR 2023): the gap between the global and local-only selectors' winning rates
(Fig. 2), LoGo's winning and defeat percentages per category (Fig. 4) and the pairwise penalty matrix
as a heatmap (Fig. 5)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fal.config.outputs import PaperFigure
from fal.plots.panels import penalty_heatmap, win_defeat_bars, winning_gap_plot

OUTPUTS = (
    PaperFigure(
        "logo_figure2",
        "LoGo Fig. 2: gap between the winning rates of the global and local-only query selectors over rho × alpha",
        heading="Winning-rate gap of global vs local-only selectors (LoGo Fig. 2)",
        entry="logo_figure2",
    ),
    PaperFigure(
        "logo_figure4",
        "LoGo Fig. 4: winning and defeat percentages of LoGo against each baseline, per category of settings",
        heading="LoGo's winning (and defeat) percentage per category (LoGo Fig. 4)",
        entry="logo_figure4",
    ),
    PaperFigure(
        "logo_penalty",
        "LoGo penalty matrix: pairwise winning rates as a heatmap",
        heading="LoGo's pairwise penalty matrix",
        entry="logo_penalty",
    ),
)


def logo_penalty(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return penalty_heatmap(metrics, info, title)


def logo_figure2(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return winning_gap_plot(metrics, info, title)


def logo_figure4(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return win_defeat_bars(metrics, info, title, method="logo")
