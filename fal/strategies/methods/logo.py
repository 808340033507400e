"""LoGo (reference-spec §6.9; LoGo paper §5): macro step with the local-only model, micro step with G.

Per client:
1. Macro step: on the unlabelled pool, the local-only model L_k (§5.1) gives features z and softmax p;
   the embedding is z·(1 − p_ŷ) with ŷ = argmax p (the gradient-embedding block of the predicted class).
   k-means with k = b clusters (fal.strategies.kmeans; n_init, max_iter, tol are options with
   scikit-learn 1.0.1's defaults; the generator comes from (seed, strategy, cycle, client)).
2. Micro step: in every non-empty cluster, the member with the highest entropy under the global model
   (lowest Σ p log p; first in pool order on ties) — at most one point per cluster.
3. Top-up, only when empty clusters left fewer than b picks: ⌈(b − picked)/#non-empty⌉ more per
   cluster and sweep (the next most uncertain members, clusters in index order), until ≥ b, then
   truncated to b in pick order (the official code truncates in arbitrary set order).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward
from fal.strategies.kmeans import KMeansResult, kmeans
from fal.strategies.methods.entropy import negative_entropy

METHOD = MethodInfo(
    name="logo",
    label="LoGo",
    summary="k-means (k = b) on the local model's gradient embeddings (macro step), then per cluster the highest global-model entropy (micro step)",
    spec="§6.9",
    selector="G, L",
    options=(  # scikit-learn 1.0.1 KMeans defaults used by the official code (reference-spec §6.9)
        Option("n_init", 10, "k-means restarts", minimum=1, integer=True),
        Option("max_iter", 300, "k-means iterations per restart", minimum=1, integer=True),
        Option("tol", 1.0e-4, "k-means relative tolerance", minimum=0),
    ),
)


def macro_embedding(logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """z·(1 − p_ŷ): the predicted-class block of the gradient embedding, (n, D), on the inputs' device."""
    probs = torch.softmax(logits, dim=1)
    top = probs.max(dim=1).values
    return features * (1.0 - top).unsqueeze(1)


def cluster_wise_picks(labels: np.ndarray, scores: np.ndarray, k: int, budget: int) -> np.ndarray:
    """Micro step and top-up (§6.9 steps 3–4): indices into the pool, in pick order, the first ``budget``.

    ``scores`` are Σ p log p under the global model (lower = more uncertain); ``labels`` in 0 … k−1.
    """
    return cluster_wise_candidates(labels, scores, k, budget)[:budget]


def cluster_wise_candidates(labels: np.ndarray, scores: np.ndarray, k: int, budget: int) -> np.ndarray:
    """Every sample the micro step and its top-up pick (indices into the pool, in pick order): each
    cluster's most uncertain member, then, while fewer than ``budget``, ``num`` more per cluster per pass
    over the clusters, as the official loop adds them (a pass can overshoot the budget)."""
    clusters = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if members.size:
            clusters.append(members[np.argsort(scores[members], kind="stable")])
    picks = [int(m[0]) for m in clusters]
    if len(picks) < budget and clusters:
        num = math.ceil((budget - len(picks)) / len(clusters))
        idx = 0
        while len(picks) < budget:
            added = False
            for members in clusters:
                extra = members[idx + 1 : idx + 1 + num]
                if extra.size:
                    picks.extend(int(i) for i in extra)
                    added = True
            idx += num
            if not added:
                break
    return np.asarray(picks, dtype=np.int64)


def official_order(positions: np.ndarray, budget: int) -> np.ndarray:
    """The official code's order of LoGo's picks: ``list(set(query_idx))``, truncated in that order
    (LG:query_strategies/fal/logo.py:55 and :96): CPython's iteration order of the set of the picked
    positions (deterministic for ints, not sorted), the first ``budget``."""
    return np.asarray(list({int(i) for i in positions})[:budget], dtype=np.int64)


def select(
    local_logits: torch.Tensor,
    local_features: torch.Tensor,
    global_probs: torch.Tensor,
    n: int,
    rng: np.random.Generator,
    options: dict,
) -> tuple[np.ndarray, KMeansResult]:
    """One client's LoGo candidates (indices into its unlabelled pool, in pick order, possibly more than
    ``n`` when the top-up overshoots) and the macro clustering."""
    result = kmeans(
        macro_embedding(local_logits, local_features),
        n,
        rng,
        n_init=int(options["n_init"]),
        max_iter=int(options["max_iter"]),
        tol=float(options["tol"]),
    )
    scores = negative_entropy(global_probs).cpu().numpy()
    return cluster_wise_candidates(result.labels, scores, n, n), result


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    selected, diagnostics = {}, []
    for pool in step.pools:
        n = min(pool.budget, len(pool.unlabelled))
        if n == 0:
            selected[pool.client] = np.empty(0, dtype=np.int64)
            continue
        local_logits, local_features = forward(
            step.local_models.get(pool), step.query_bank, pool.unlabelled, step.batch_size
        )
        global_logits, _ = forward(step.global_model, step.query_bank, pool.unlabelled, step.batch_size)
        candidates, result = select(
            local_logits, local_features, torch.softmax(global_logits, dim=1), n, step.client_rng(pool.client), options
        )
        picked = pool.unlabelled[candidates]
        # pool_order official: the official code's set order, truncated in it; ascending: cluster order
        selected[pool.client] = official_order(picked, n) if step.fidelity.pool_order == "official" else picked[:n]
        row = {"client": pool.client}
        diagnostics += [
            {**row, "metric": "logo_nonempty_clusters", "value": float(len(np.unique(result.labels)))},
            {**row, "metric": "logo_kmeans_inertia", "value": result.inertia},
        ]
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
