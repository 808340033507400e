"""BADGE (reference-spec §6.6): k-means++ seeding in gradient-embedding space, G or L model.

The gradient embedding of a sample is the outer product a ⊗ z of a = onehot(ŷ) − p (C values) and
the penultimate features z (D values), ŷ = argmax p, with z and p from the same model. It is never
materialised: ‖a ⊗ z‖² = ‖a‖²‖z‖² and ⟨a ⊗ z, a' ⊗ z'⟩ = (a·a')(z·z'), so a distance to one centre
costs O(N·(C + D)) instead of O(N·C·D). Sums of such terms (e.g. an average of two models'
embeddings) factorise the same way, term by term.

Seeding (official semantics): the first centre is the sample with the largest embedding norm (first
on ties); every later centre is drawn from the categorical distribution D(x)²/ΣD(x)², D(x) being the
Euclidean distance to the nearest chosen centre, redrawing if an already chosen index comes out. The
draws come from an explicit generator (inverse CDF of one uniform per draw). A pool whose distances
are all zero is an error, as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from fal.config.methods import MethodInfo
from fal.config.strategy import StrategyConfig
from fal.seeding import numpy_rng
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward

METHOD = MethodInfo(
    name="badge",
    label="BADGE",
    summary="k-means++ seeding (largest norm first, then ∝ D²) on gradient embeddings, computed factorised",
    spec="§6.6",
    query_models=("global", "local"),
)


@dataclass
class FactoredEmbedding:
    """Rows e_i = Σ_r a_i^r ⊗ z_i^r, kept as the factor pairs (a^r: N×C, z^r: N×D)."""

    terms: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def from_outputs(
        cls, features: torch.Tensor, probs: torch.Tensor, targets: torch.Tensor | None = None
    ) -> FactoredEmbedding:
        """BADGE's embedding −∂CE(target)/∂W of the last layer (no bias); target defaults to argmax p."""
        probs = probs.double()
        if targets is None:
            targets = probs.argmax(dim=1)
        a = torch.nn.functional.one_hot(targets.to(probs.device).long(), probs.shape[1]).double() - probs
        return cls([(a, features.double())])

    def __len__(self) -> int:
        return self.terms[0][0].shape[0]

    def sq_norms(self) -> torch.Tensor:
        total: torch.Tensor | int = 0
        for a_r, z_r in self.terms:
            for a_s, z_s in self.terms:
                total = total + (a_r * a_s).sum(1) * (z_r * z_s).sum(1)
        return cast(torch.Tensor, total)

    def dot_with(self, j: int) -> torch.Tensor:
        """⟨e_i, e_j⟩ for every i."""
        total: torch.Tensor | int = 0
        for a_r, z_r in self.terms:
            for a_s, z_s in self.terms:
                total = total + (a_r @ a_s[j]) * (z_r @ z_s[j])
        return cast(torch.Tensor, total)

    def dense(self) -> torch.Tensor:
        """The materialised N × (C·D) embedding (tests and small inputs only)."""
        return cast(torch.Tensor, sum((a.unsqueeze(2) * z.unsqueeze(1)).reshape(a.shape[0], -1) for a, z in self.terms))


def kmeanspp_seeding(embedding: FactoredEmbedding, k: int, rng: np.random.Generator) -> np.ndarray:
    """BADGE's ``init_centers``: ``k`` distinct indices in selection order (see the module docstring)."""
    n = len(embedding)
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    norms = embedding.sq_norms()
    first = int(torch.argmax(norms))
    chosen = [first]
    is_chosen = np.zeros(n, dtype=bool)
    is_chosen[first] = True
    sq_dist = (norms + norms[first] - 2.0 * embedding.dot_with(first)).clamp_min_(0.0)
    while len(chosen) < k:
        d2 = sq_dist.cpu().numpy().copy()
        d2[is_chosen] = 0.0  # exactly 0 in exact arithmetic; removes rounding residue
        total = d2.sum()
        if not total > 0.0:
            raise ValueError(
                f"BADGE seeding: every remaining gradient embedding coincides with a chosen centre after {len(chosen)} of {k} picks"
            )
        cumulative = np.cumsum(d2)
        while True:
            index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
            if index >= n:  # u·total rounded up to the total: the last index with weight
                index = int(np.flatnonzero(d2)[-1])
            if not is_chosen[index]:
                break
        chosen.append(index)
        is_chosen[index] = True
        new = (norms + norms[index] - 2.0 * embedding.dot_with(index)).clamp_min_(0.0)
        torch.minimum(sq_dist, new, out=sq_dist)
    return np.asarray(chosen, dtype=np.int64)


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected = {}
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        logits, features = forward(model, step.query_bank, pool.unlabelled, step.batch_size)
        embedding = FactoredEmbedding.from_outputs(features, torch.softmax(logits, dim=1))
        rng = numpy_rng(*step.seed_keys, "badge", pool.client)
        picks = kmeanspp_seeding(embedding, pool.budget, rng)
        selected[pool.client] = pool.unlabelled[picks]
    return QueryOutcome(selected=selected)
