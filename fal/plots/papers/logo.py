"""LoGo's figures (CVPR 2023): the pairwise penalty matrix as a heatmap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fal.config.outputs import PaperFigure
from fal.plots.panels import penalty_heatmap

OUTPUTS = (
    PaperFigure(
        "logo_penalty",
        "LoGo penalty matrix: pairwise winning rates as a heatmap",
        heading="LoGo's pairwise penalty matrix",
        builder="logo_penalty",
    ),
)


def logo_penalty(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return penalty_heatmap(metrics, info, title)
