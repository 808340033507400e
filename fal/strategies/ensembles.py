"""LoGo's ensemble baselines (reference-spec §6.10; LoGo paper Table 4) built on Entropy (§6.2).

- ``ens_logit_entropy``: entropy of the average of G's and the local-only model's softmax.
- ``ens_rank_entropy``: G's and L_k's top-b entropy lists merged by reciprocal rank,
  score(x) = Σ_lists 1/(rank_offset + position), positions 0-based, rank_offset 20; ties keep the
  union order (G's list first, then L_k's new entries).
- ``ft_entropy``: entropy with a local model fine-tuned from G (§5.2) instead of trained from scratch.

The BADGE variants (``ens_logit_badge``, ``ens_rank_badge``, ``ft_badge``) need BADGE's k-means++
seeding and are not here. One module serves the three methods; ``strategy.method`` picks the variant.
"""

from __future__ import annotations

import numpy as np
import torch

from fal.config import ConfigError, StrategyConfig
from fal.strategies.base import ClientPool, QueryOutcome, QueryStep
from fal.strategies.entropy import negative_entropy
from fal.strategies.inference import probabilities


def _top_entropy(probs: torch.Tensor, n: int) -> np.ndarray:
    """Pool indices of the n highest-entropy samples, most uncertain first (stable on ties)."""
    return np.argsort(negative_entropy(probs).cpu().numpy(), kind="stable")[:n]


def rank_merge(lists: list[np.ndarray], n: int, offset: float) -> np.ndarray:
    """Reciprocal-rank fusion of ranked index lists; the n best, ties in first-appearance order."""
    score: dict[int, float] = {}
    for ranked in lists:
        for position, idx in enumerate(ranked.tolist()):
            score[idx] = score.get(idx, 0.0) + 1.0 / (offset + position)
    union = list(score)  # insertion order = first appearance
    order = sorted(range(len(union)), key=lambda i: -score[union[i]])  # sorted() is stable
    return np.asarray([union[i] for i in order[:n]], dtype=np.int64)


def _probs(model, step: QueryStep, pool: ClientPool) -> torch.Tensor:
    return probabilities(model, step.query_bank, pool.unlabelled, step.batch_size)


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    method = strategy.method
    finetuned = step.local_models.finetuned_from(step.global_model) if method == "ft_entropy" else None
    if method == "ens_rank_entropy" and not float(options["rank_offset"]) > 0:
        raise ConfigError(f"{method} option rank_offset must be > 0, got {options['rank_offset']!r}")
    selected, diagnostics = {}, []
    for pool in step.pools:
        n = min(step.budget, len(pool.unlabelled))
        if method == "ens_logit_entropy":
            probs = 0.5 * (_probs(step.global_model, step, pool) + _probs(step.local_models.get(pool), step, pool))
            picks = _top_entropy(probs, n)
        elif method == "ens_rank_entropy":
            g_list = _top_entropy(_probs(step.global_model, step, pool), n)
            l_list = _top_entropy(_probs(step.local_models.get(pool), step, pool), n)
            picks = rank_merge([g_list, l_list], n, float(options["rank_offset"]))
        elif method == "ft_entropy":
            picks = _top_entropy(_probs(finetuned.get(pool), step, pool), n)
            info = finetuned.info[pool.client]
            diagnostics += [
                {"client": pool.client, "metric": "finetuned_model_epochs", "value": float(info.epochs)},
                {"client": pool.client, "metric": "finetuned_model_train_acc", "value": 100.0 * info.train_accuracy},
            ]
        else:
            raise ValueError(f"fal.strategies.ensembles does not implement method {method!r}")
        selected[pool.client] = pool.unlabelled[picks]
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
