"""Entropy sampling (reference-spec §6.2) with the global (G) or local-only (L) model.

Score = Σ_c p_c log p_c (minus the entropy, with 0·log 0 = 0); the b lowest scores, i.e. the most
uncertain samples, are queried. A stable sort breaks exact ties by pool order. Multi-label data: minus the
mean binary entropy over labels (fal.strategies.multilabel).
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
    name="entropy",
    label="Entropy",
    summary="the b highest predictive entropies",
    spec="§6.2",
    query_models=("global", "local"),
    multi_label=True,
)


def negative_entropy(probs: torch.Tensor) -> torch.Tensor:
    logs = torch.where(probs > 0, probs.log(), torch.zeros_like(probs))
    return (probs * logs).sum(dim=1)


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        if step.multi_label:
            probs = label_probabilities(model, step.query_bank, pool.unlabelled, step.batch_size)
            scores = load_entry("fal.strategies.multilabel:negative_mean_binary_entropy")(probs)
        else:
            scores = negative_entropy(probabilities(model, step.query_bank, pool.unlabelled, step.batch_size))
        order = np.argsort(scores.cpu().numpy(), kind="stable")[: pool.budget]
        selected[pool.client] = pool.unlabelled[order]
    return QueryOutcome(selected=selected)
