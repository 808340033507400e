"""The papers' tables, one module per paper, each declaring its ``OUTPUTS`` (``fal.config.outputs``)."""

from __future__ import annotations

import importlib

import pandas as pd

from fal.config.outputs import TABLES


def build_table(
    name: str, metrics: pd.DataFrame, info: dict, published: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, per-seed values) of table ``name`` for the study ``info`` describes (its module is imported only now)."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; available: {sorted(TABLES)}")
    table = TABLES[name]
    return getattr(importlib.import_module(table.module), table.builder)(metrics, info, published)
