"""The papers' figures, one module per paper, each declaring its ``OUTPUTS`` (``fal.config.outputs``)."""

from __future__ import annotations

import importlib

import matplotlib.pyplot as plt
import pandas as pd

from fal.config.outputs import FIGURES


def build_figure(
    name: str, metrics: pd.DataFrame, info: dict, partitions: dict[str, pd.DataFrame] | None = None
) -> plt.Figure:
    """Figure ``name`` for the study ``info`` describes (its module is imported only now); figures that
    declare ``needs_partitions`` read the settings' partitions (first seed)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; available: {sorted(FIGURES)}")
    figure = FIGURES[name]
    title = f'Study "{info["name"]}": {figure.heading}'
    builder = getattr(importlib.import_module(figure.module), figure.builder)
    return builder(metrics, info, partitions or {}, title)
