"""Federated learning algorithms behind one interface (``fedavg.FedAvg``), listed in ``fal.config.algorithms``."""

from __future__ import annotations

import importlib
from typing import Any

from fal.config.algorithms import ALGORITHMS


def algorithm_class(name: str) -> type:
    """The class implementing algorithm ``name`` (its module is imported only now)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown federated algorithm {name!r}; available: {sorted(ALGORITHMS)}")
    module, cls = ALGORITHMS[name].implementation.split(":")
    return getattr(importlib.import_module(module), cls)


def make_algorithm(cfg: Any, context: Any = None) -> Any:
    """An instance of ``cfg.algorithm`` for one cycle (``context``: what a strategy-level update needs)."""
    return algorithm_class(cfg.algorithm)(cfg, context)
