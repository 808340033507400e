"""Coreset (reference-spec §6.5): greedy k-center on penultimate features of the G or L model.

The labelled samples are the initial centres; each pick is the unlabelled sample farthest (Euclidean)
from its nearest centre, ties to the first in pool order. Squared distances give the same picks, so
the shared ``kcenter_greedy`` (incremental, O(N·d) per pick) is used, in float64 so that near-ties
are decided by the distances and not by rounding.

Deviation: the official greedy can re-pick an already chosen point once every remaining distance is 0
(duplicates of labelled points); here chosen points are never re-picked.
"""

from __future__ import annotations

import numpy as np

from fal.config.methods import MethodInfo
from fal.config.strategy import StrategyConfig
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward
from fal.strategies.kcenter import kcenter_greedy

# multi-label data: the same k-centre greedy on the penultimate features (outputs play no part)
METHOD = MethodInfo(
    name="coreset",
    label="Coreset",
    summary="greedy k-center (Euclidean) on penultimate features, labelled samples as initial centres",
    spec="§6.5",
    query_models=("global", "local"),
    multi_label=True,
)


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        _, features = forward(model, step.query_bank, np.concatenate([pool.unlabelled, pool.labelled]), step.batch_size)
        points = features.cpu().numpy().astype(np.float64)
        n = len(pool.unlabelled)
        picks = kcenter_greedy(points[:n], pool.budget, anchors=points[n:])
        selected[pool.client] = pool.unlabelled[picks]
    return QueryOutcome(selected=selected)
