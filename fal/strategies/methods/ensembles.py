"""LoGo's ensemble baselines (reference-spec §6.10; LoGo paper Table 4) built on Entropy (§6.2) and
BADGE (§6.6). G is the global model, L_k client k's local-only model (§5.1).

- ``ens_logit_entropy``: entropy of the average of G's and L_k's softmax.
- ``ens_logit_badge``: BADGE's k-means++ seeding on the average ½(e_G + e_L) of the two gradient
  embeddings, each e = (onehot(ŷ) − p) ⊗ z from its own model's probabilities, argmax and features.
- ``ens_rank_entropy`` / ``ens_rank_badge``: G's and L_k's ranked lists of length b (entropy order,
  or the order in which k-means++ picked the points) merged by reciprocal rank,
  score(x) = Σ_lists 1/(rank_offset + position), positions 0-based, rank_offset 20; ties keep the
  union order (G's list first, then L_k's new entries). The two seedings draw from two generators.
- ``ft_entropy`` / ``ft_badge``: Entropy / BADGE with a local model fine-tuned from G (§5.2) instead
  of trained from scratch.

One module serves the six methods; ``strategy.method`` picks the variant.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.seeding import numpy_rng
from fal.strategies.base import ClientPool, QueryOutcome, QueryStep
from fal.strategies.inference import forward, probabilities
from fal.strategies.methods.badge import FactoredEmbedding, kmeanspp_seeding
from fal.strategies.methods.entropy import negative_entropy

METHOD = (
    MethodInfo(
        name="ens_logit_entropy",
        label="Ens. Logit + Entropy",
        summary="entropy of the average of G's and L's softmax",
        spec="§6.10",
        selector="G, L",
    ),
    MethodInfo(
        name="ens_logit_badge",
        label="Ens. Logit + BADGE",
        summary="BADGE's seeding on the average of G's and L's gradient embeddings",
        spec="§6.10",
        selector="G, L",
    ),
    MethodInfo(
        name="ens_rank_entropy",
        label="Ens. Rank + Entropy",
        summary="G's and L's top-b entropy lists fused by Σ 1/(20 + position)",
        spec="§6.10",
        selector="G, L",
        options=(Option("rank_offset", 20, "score Σ 1/(rank_offset + position) (reference-spec §6.10)", above=0),),
    ),
    MethodInfo(
        name="ens_rank_badge",
        label="Ens. Rank + BADGE",
        summary="G's and L's BADGE selections fused by Σ 1/(20 + position)",
        spec="§6.10",
        selector="G, L",
        options=(Option("rank_offset", 20, "score Σ 1/(rank_offset + position) (reference-spec §6.10)", above=0),),
    ),
    MethodInfo(
        name="ft_entropy",
        label="Fine-tuning + Entropy",
        summary="entropy with a local model fine-tuned from G (§5.2)",
        spec="§6.10",
        selector="L",
    ),
    MethodInfo(
        name="ft_badge",
        label="Fine-tuning + BADGE",
        summary="BADGE with a local model fine-tuned from G (§5.2)",
        spec="§6.10",
        selector="L",
    ),
)

RANK_METHODS = ("ens_rank_entropy", "ens_rank_badge")
FINETUNED_METHODS = ("ft_entropy", "ft_badge")
METHODS = ("ens_logit_entropy", "ens_logit_badge", *RANK_METHODS, *FINETUNED_METHODS)


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


def averaged_embedding(outputs: list[tuple[torch.Tensor, torch.Tensor]]) -> FactoredEmbedding:
    """The mean of the models' BADGE gradient embeddings; ``outputs`` holds (features, probs) per model.

    Each term keeps its own model's argmax as the pseudo-label; the mean stays factorised (one
    (a/m, z) pair per model), so nothing of size N × C·D is built."""
    terms = []
    for features, probs in outputs:
        ((a, z),) = FactoredEmbedding.from_outputs(features, probs).terms
        terms.append((a / len(outputs), z))
    return FactoredEmbedding(terms)


def rank_badge(
    embeddings: list[FactoredEmbedding], n: int, offset: float, rngs: list[np.random.Generator]
) -> np.ndarray:
    """One k-means++ seeding of length n per embedding, merged by reciprocal rank (``rank_merge``)."""
    return rank_merge([kmeanspp_seeding(e, n, rng) for e, rng in zip(embeddings, rngs)], n, offset)


def _probs(model: nn.Module, step: QueryStep, pool: ClientPool) -> torch.Tensor:
    return probabilities(model, step.query_bank, pool.unlabelled, step.batch_size)


def _features_probs(model: nn.Module, step: QueryStep, pool: ClientPool) -> tuple[torch.Tensor, torch.Tensor]:
    logits, features = forward(model, step.query_bank, pool.unlabelled, step.batch_size)
    return features, torch.softmax(logits, dim=1)


def _badge_rng(step: QueryStep, pool: ClientPool, *which: str) -> np.random.Generator:
    """BADGE's own generator key (plus ``which`` for the second seeding of a rank fusion), so that
    ``ft_badge`` and ``badge`` (L) under one strategy name differ only by the model."""
    return numpy_rng(*step.seed_keys, "badge", *which, pool.client)


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    method = strategy.method
    if method not in METHODS:
        raise ValueError(f"fal.strategies.methods.ensembles does not implement method {method!r}")
    finetuned = step.local_models.finetuned_from(step.global_model) if method in FINETUNED_METHODS else None
    selected, diagnostics = {}, []
    for pool in step.pools:
        n = min(pool.budget, len(pool.unlabelled))
        local = step.local_models.get(pool) if finetuned is None else finetuned.get(pool)
        if method == "ens_logit_entropy":
            probs = 0.5 * (_probs(step.global_model, step, pool) + _probs(local, step, pool))
            picks = _top_entropy(probs, n)
        elif method == "ens_logit_badge":
            embedding = averaged_embedding(
                [_features_probs(step.global_model, step, pool), _features_probs(local, step, pool)]
            )
            picks = kmeanspp_seeding(embedding, n, _badge_rng(step, pool))
        elif method == "ens_rank_entropy":
            g_list = _top_entropy(_probs(step.global_model, step, pool), n)
            l_list = _top_entropy(_probs(local, step, pool), n)
            picks = rank_merge([g_list, l_list], n, float(options["rank_offset"]))
        elif method == "ens_rank_badge":
            embeddings = [
                FactoredEmbedding.from_outputs(*_features_probs(m, step, pool)) for m in (step.global_model, local)
            ]
            rngs = [_badge_rng(step, pool), _badge_rng(step, pool, "local")]
            picks = rank_badge(embeddings, n, float(options["rank_offset"]), rngs)
        elif method == "ft_entropy":
            picks = _top_entropy(_probs(local, step, pool), n)
        else:  # ft_badge
            picks = kmeanspp_seeding(
                FactoredEmbedding.from_outputs(*_features_probs(local, step, pool)), n, _badge_rng(step, pool)
            )
        if finetuned is not None:
            info = finetuned.info[pool.client]
            diagnostics += [
                {"client": pool.client, "metric": "finetuned_model_epochs", "value": float(info.epochs)},
                {"client": pool.client, "metric": "finetuned_model_train_acc", "value": 100.0 * info.train_accuracy},
            ]
        selected[pool.client] = pool.unlabelled[picks]
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
