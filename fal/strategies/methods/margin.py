"""Margin sampling (reference-spec §6.3) with the global (G) or local-only (L) model.

Score = p_(1) − p_(2), the gap between the two largest class probabilities; the b smallest gaps are
queried. A stable sort breaks exact ties by pool order. Multi-label data: the mean over labels of
|2p − 1| (fal.strategies.multilabel).
"""

from __future__ import annotations

import numpy as np
import torch

from fal.config.methods import MethodInfo
from fal.config.strategy import StrategyConfig
from fal.registry import load_entry
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import label_probabilities, probabilities

METHOD = MethodInfo(
    name="margin",
    label="Margin",
    summary="the b smallest top-2 probability gaps",
    spec="§6.3",
    query_models=("global", "local"),
    multi_label=True,
)


def margin_scores(probs: torch.Tensor) -> torch.Tensor:
    top2 = probs.topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        if step.multi_label:
            probs = label_probabilities(model, step.query_bank, pool.unlabelled, step.batch_size)
            scores = load_entry("fal.strategies.multilabel:mean_label_margin")(probs)
        else:
            scores = margin_scores(probabilities(model, step.query_bank, pool.unlabelled, step.batch_size))
        order = np.argsort(scores.cpu().numpy(), kind="stable")[: pool.budget]
        selected[pool.client] = pool.unlabelled[order]
    return QueryOutcome(selected=selected)
