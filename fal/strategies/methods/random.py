"""Random sampling (reference-spec §6.1): b unlabelled samples uniformly, without replacement."""

from __future__ import annotations

import numpy as np

from fal.config.methods import MethodInfo
from fal.config.strategy import StrategyConfig
from fal.strategies.base import QueryOutcome, QueryStep

METHOD = MethodInfo(
    name="random",
    label="Random",
    summary="uniform draw from the client's unlabelled pool (a pool smaller than the budget is taken whole)",
    spec="§6.1",
    multi_label=True,
)  # labels play no part


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        rng = step.client_rng(pool.client)
        # A pool smaller than the budget (the contract allows it) gives all of it.
        size = min(pool.budget, len(pool.unlabelled))
        selected[pool.client] = rng.choice(pool.unlabelled, size=size, replace=False).astype(np.int64)
    return QueryOutcome(selected=selected)
