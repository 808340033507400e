"""The papers' tables, one module per paper, each declaring its ``OUTPUTS`` (``fal.config.outputs``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pandas as pd

from fal.config.outputs import PaperTable
from fal.registry import load_entry

TableBuilder = Callable[[pd.DataFrame, dict, "pd.DataFrame | None"], tuple[pd.DataFrame, pd.DataFrame]]
"""A table's entry point: ``builder(metrics, info, published) -> (cells, per-seed values)``."""


def build_table(
    table: PaperTable, metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, per-seed values) of ``table`` for the study ``info`` describes (its module is imported only now)."""
    return cast(TableBuilder, load_entry(table.entry_point))(metrics, info, published)
