"""The papers' figures, one module per paper, each declaring its ``OUTPUTS`` (``fal.config.outputs``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import matplotlib.pyplot as plt
import pandas as pd

from fal.config.outputs import PaperFigure
from fal.registry import load_entry

FigureBuilder = Callable[[pd.DataFrame, dict, dict[str, pd.DataFrame], str], plt.Figure]
"""A figure's entry point: ``builder(metrics, info, partitions, title) -> Figure``."""


def build_figure(
    figure: PaperFigure, metrics: pd.DataFrame, info: dict, partitions: dict[str, pd.DataFrame] | None = None
) -> plt.Figure:
    """``figure`` for the study ``info`` describes (its module is imported only now); figures that
    declare ``needs_partitions`` read the settings' partitions (first seed)."""
    title = f'Study "{info["name"]}": {figure.heading}'
    return cast(FigureBuilder, load_entry(figure.entry_point))(metrics, info, partitions or {}, title)
