"""Least-confidence sampling, ``conf`` (reference-spec §6.4), with the global (G) or local-only (L) model.

Score = max_c p_c; the b lowest scores are queried. A stable sort breaks exact ties by pool order.
"""

from __future__ import annotations

import numpy as np
import torch

from fal.config.methods import MethodInfo
from fal.config.strategy import StrategyConfig
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import probabilities

METHOD = MethodInfo(
    name="conf",
    label="Conf",
    summary="least confidence: the b lowest max-probabilities",
    spec="§6.4",
    query_models=("global", "local"),
)


def confidence_scores(probs: torch.Tensor) -> torch.Tensor:
    return probs.max(dim=1).values


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        scores = confidence_scores(probabilities(model, step.query_bank, pool.unlabelled, step.batch_size))
        order = np.argsort(scores.cpu().numpy(), kind="stable")[: pool.budget]
        selected[pool.client] = pool.unlabelled[order]
    return QueryOutcome(selected=selected)
