"""k-means (k-means++ seeding, Lloyd iterations, best of n_init) with an explicit random generator.

LoGo's macro step (reference-spec §6.9) calls scikit-learn 1.0.1's ``KMeans(n_clusters=b)`` with its
defaults. This module follows those semantics without scikit-learn:

- ``n_init`` (sklearn 1.0.1 default 10) independent runs; the run with the strictly lowest inertia wins
  (ties keep the earlier run).
- Seeding: greedy k-means++ — first centre uniform; every further centre is the best (lowest potential)
  of ``2 + ⌊ln k⌋`` candidates drawn with probability ∝ D² to the nearest centre so far.
- Lloyd iterations, at most ``max_iter`` (300): assign, recompute means; a cluster left empty is moved
  onto the point farthest from its current centre (farthest first, ties by lower index); stop when the
  assignment no longer changes or when the summed squared centre shift is ≤ ``tol`` × mean per-feature
  variance of the data (sklearn's relative tolerance, 1e-4). Without the first kind of convergence the
  labels are recomputed once against the final centres.
- ``random_state``: sklearn draws from one ``RandomState`` shared by all n_init runs (the global NumPy RNG
  in LoGo's code). Here one ``numpy.random.Generator`` — derived by the caller from (seed, strategy,
  cycle, client) — is consumed in the same order: all draws of run 1, then run 2, … The draw streams
  differ from NumPy's legacy RandomState, so clusterings equal sklearn's in distribution, not bit for bit.

Computation is in float64 torch on the points' device (GPU when the query runs there; sklearn keeps the
input dtype, float32 for LoGo's embeddings); this changes only rounding. Cluster sums are one-hot matrix
products (deterministic on GPU, unlike scatter-adds). The random draws come from the NumPy generator
whatever the device. The Elkan variant that sklearn 1.0.1 picks for dense data converges to the same
fixed points as Lloyd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

Points = np.ndarray | torch.Tensor
"""Points to cluster, (n, d): a NumPy array or a tensor (kept on its device)."""


@dataclass(frozen=True)
class KMeansResult:
    labels: np.ndarray
    """Cluster of each point, in 0 … k−1."""
    centres: np.ndarray
    inertia: float
    """Sum of squared distances of the points to their centre."""
    iterations: int


def _as_points(points: Points, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    if isinstance(points, torch.Tensor):
        return points.detach().to(dtype)
    return torch.as_tensor(np.asarray(points)).to(dtype)


def _sq_dist(a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (len(a), len(b)) from precomputed squared norms, clipped at 0."""
    return (a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)).clamp_min_(0.0)


def kmeans_plusplus(
    points: Points,
    k: int,
    rng: np.random.Generator,
    n_local_trials: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """Indices of ``k`` greedy k-means++ seeds (see the module docstring), computed in ``dtype``."""
    x = _as_points(points, dtype)
    sq = (x * x).sum(1)
    n = x.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(k))
    first = int(rng.integers(n))
    chosen = [first]
    closest = _sq_dist(x[[first]], x, sq[[first]], sq)[0]
    potential = float(closest.sum())
    for _ in range(1, k):
        if potential <= 0:  # every point sits on a centre already: take the others in order
            rest = np.setdiff1d(np.arange(n), chosen)
            chosen.append(int(rest[0]) if rest.size else chosen[-1])
            continue
        draws = torch.as_tensor(rng.random(n_local_trials) * potential, dtype=x.dtype, device=x.device)
        candidates = torch.searchsorted(torch.cumsum(closest, 0), draws).clamp_max_(n - 1)
        trial = torch.minimum(closest[None, :], _sq_dist(x[candidates], x, sq[candidates], sq))
        potentials = trial.sum(1)
        best = int(torch.argmin(potentials))
        chosen.append(int(candidates[best]))
        closest = trial[best]
        potential = float(potentials[best])
    return np.asarray(chosen, dtype=np.int64)


def _lloyd(x: torch.Tensor, sq: torch.Tensor, centres: torch.Tensor, max_iter: int, tol: float) -> KMeansResult:
    n, k = x.shape[0], centres.shape[0]
    abs_tol = float(x.var(dim=0, unbiased=False).mean()) * tol if n else 0.0
    rows = torch.arange(n, device=x.device)
    labels = _sq_dist(x, centres, sq, (centres * centres).sum(1)).argmin(1)
    previous = None
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        labels = _sq_dist(x, centres, sq, (centres * centres).sum(1)).argmin(1)
        onehot = torch.zeros(k, n, dtype=x.dtype, device=x.device)
        onehot[labels, rows] = 1.0
        sums = onehot @ x
        counts = onehot.sum(1)
        empty = torch.nonzero(counts == 0).flatten().tolist()
        if empty:
            far = ((x - centres[labels]) ** 2).sum(1)
            farthest = torch.argsort(-far, stable=True)[: len(empty)].tolist()
            for cluster, idx in zip(empty, farthest):
                old = int(labels[idx])
                sums[old] -= x[idx]
                counts[old] -= 1
                sums[cluster] = x[idx]
                counts[cluster] = 1
        new = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1.0)[:, None], centres)
        shift = float(((new - centres) ** 2).sum())
        centres = new
        if previous is not None and torch.equal(labels, previous):
            converged = True
            break
        if shift <= abs_tol:
            break
        previous = labels
    dist = _sq_dist(x, centres, sq, (centres * centres).sum(1))
    if not converged:
        labels = dist.argmin(1)
    inertia = float(dist[rows, labels].sum())
    return KMeansResult(
        labels=labels.cpu().numpy().astype(np.int64),
        centres=centres.cpu().numpy(),
        inertia=inertia,
        iterations=iterations,
    )


def lloyd(points: torch.Tensor, centres: torch.Tensor, max_iter: int = 300, tol: float = 1e-4) -> KMeansResult:
    """Lloyd iterations from ``centres``; ``tol`` is relative to the mean per-feature variance."""
    x = _as_points(points)
    c = _as_points(centres).to(x.device).clone()
    return _lloyd(x, (x * x).sum(1), c, max_iter, tol)


def kmeans(
    points: Points,
    k: int,
    rng: np.random.Generator,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    dtype: torch.dtype = torch.float64,
) -> KMeansResult:
    """Best (lowest-inertia) of ``n_init`` k-means++-seeded Lloyd runs on ``points`` (n, d), k ≤ n.

    ``points`` is an array or a tensor (computed on its device, in ``dtype``: float32 is what
    scikit-learn computes in for float32 input)."""
    x = _as_points(points, dtype)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= number of points, got k={k}, n={n}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    sq = (x * x).sum(1)
    best: KMeansResult | None = None
    for _ in range(n_init):
        seeds = torch.as_tensor(kmeans_plusplus(x, k, rng, dtype=dtype), device=x.device)
        result = _lloyd(x, sq, x[seeds].clone(), max_iter, tol)
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None  # n_init >= 1
    return best


def nearest_to_centres(points: Points, result: KMeansResult) -> np.ndarray:
    """Per non-empty cluster (in cluster order), the index of the member nearest its centre (ALFA-Mix)."""
    x = _as_points(points).cpu().numpy()
    d = ((x - result.centres[result.labels]) ** 2).sum(1)
    picks = []
    for c in range(result.centres.shape[0]):
        members = np.flatnonzero(result.labels == c)
        if members.size:
            picks.append(members[np.argmin(d[members])])
    return np.asarray(picks, dtype=np.int64)
