"""Random sampling (reference-spec §6.1): b unlabelled samples uniformly, without replacement."""

from __future__ import annotations

import numpy as np

from fal.config import StrategyConfig
from fal.strategies.base import QueryOutcome, QueryStep


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        rng = step.client_rng(pool.client)
        selected[pool.client] = rng.choice(pool.unlabelled, size=step.budget, replace=False).astype(np.int64)
    return QueryOutcome(selected=selected)
