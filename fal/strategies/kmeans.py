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

Computation is in float64 (sklearn keeps the input dtype, float32 for LoGo's embeddings); this changes
only rounding. The Elkan variant that sklearn 1.0.1 picks for dense data converges to the same fixed
points as Lloyd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KMeansResult:
    labels: np.ndarray
    """Cluster of each point, in 0 … k−1."""
    centres: np.ndarray
    inertia: float
    """Sum of squared distances of the points to their centre."""
    iterations: int


def _sq_dist(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, k), clipped at 0 against rounding."""
    d = (points * points).sum(1)[:, None] + (centres * centres).sum(1)[None, :] - 2.0 * points @ centres.T
    return np.maximum(d, 0.0)


def kmeans_plusplus(points: np.ndarray, k: int, rng: np.random.Generator, n_local_trials: int | None = None) -> np.ndarray:
    """Indices of ``k`` greedy k-means++ seeds (see the module docstring)."""
    n = points.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(k))
    first = int(rng.integers(n))
    chosen = [first]
    closest = _sq_dist(points, points[[first]])[:, 0]
    potential = closest.sum()
    for _ in range(1, k):
        if potential <= 0:  # every point sits on a centre already: take them in order
            rest = np.setdiff1d(np.arange(n), chosen)
            chosen.append(int(rest[0]) if rest.size else chosen[-1])
            continue
        draws = rng.random(n_local_trials) * potential
        candidates = np.minimum(np.searchsorted(np.cumsum(closest), draws), n - 1)
        trial = np.minimum(closest[None, :], _sq_dist(points[candidates], points))
        potentials = trial.sum(axis=1)
        best = int(np.argmin(potentials))
        chosen.append(int(candidates[best]))
        closest = trial[best]
        potential = potentials[best]
    return np.asarray(chosen, dtype=np.int64)


def lloyd(points: np.ndarray, centres: np.ndarray, max_iter: int = 300, tol: float = 1e-4) -> KMeansResult:
    """Lloyd iterations from ``centres``; ``tol`` is relative to the mean per-feature variance."""
    points = np.asarray(points, dtype=np.float64)
    centres = np.array(centres, dtype=np.float64, copy=True)
    k = centres.shape[0]
    abs_tol = float(np.mean(np.var(points, axis=0))) * tol if points.shape[0] else 0.0
    labels = _sq_dist(points, centres).argmin(axis=1)
    previous = None
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        labels = _sq_dist(points, centres).argmin(axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, points)
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            far = ((points - centres[labels]) ** 2).sum(axis=1)
            farthest = np.argsort(-far, kind="stable")[: empty.size]
            for cluster, idx in zip(empty, farthest):
                old = labels[idx]
                sums[old] -= points[idx]
                counts[old] -= 1
                sums[cluster] = points[idx]
                counts[cluster] = 1
        new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        shift = float(((new - centres) ** 2).sum())
        centres = new
        if previous is not None and np.array_equal(labels, previous):
            converged = True
            break
        if shift <= abs_tol:
            break
        previous = labels
    if not converged:
        labels = _sq_dist(points, centres).argmin(axis=1)
    inertia = float(_sq_dist(points, centres)[np.arange(points.shape[0]), labels].sum())
    return KMeansResult(labels=labels.astype(np.int64), centres=centres, inertia=inertia, iterations=iterations)


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 10, max_iter: int = 300, tol: float = 1e-4) -> KMeansResult:
    """Best (lowest-inertia) of ``n_init`` k-means++-seeded Lloyd runs on ``points`` (n, d), k ≤ n."""
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= number of points, got k={k}, n={n}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    best: KMeansResult | None = None
    for _ in range(n_init):
        seeds = kmeans_plusplus(points, k, rng)
        result = lloyd(points, points[seeds], max_iter=max_iter, tol=tol)
        if best is None or result.inertia < best.inertia:
            best = result
    return best
