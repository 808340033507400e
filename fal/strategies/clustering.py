"""k-means with scikit-learn's ``KMeans`` semantics (Lloyd, greedy k-means++ init, ``n_init`` restarts),
written in torch so that it runs on the features' device, with an explicit NumPy generator for every
random draw. scikit-learn is not a dependency; its defaults of version 1.0.1 (used by the official
code) are the defaults here: n_init = 10, max_iter = 300, tol = 1e−4 (relative to the mean feature
variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class KMeansResult:
    centres: torch.Tensor
    labels: torch.Tensor
    inertia: float
    iterations: int


def _sq_dist(x: torch.Tensor, x_sq: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """N × k squared Euclidean distances, clamped at 0."""
    return (x_sq[:, None] + (centres * centres).sum(1)[None, :] - 2.0 * (x @ centres.T)).clamp_min_(0.0)


def kmeanspp_init(x: torch.Tensor, k: int, rng: np.random.Generator, n_local_trials: int | None = None) -> torch.Tensor:
    """Greedy k-means++ (scikit-learn's ``_kmeans_plusplus``): a uniform first centre, then per centre
    ``2 + ⌊ln k⌋`` candidates drawn ∝ D², keeping the one that lowers the total D² most."""
    n = x.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(k))
    x_sq = (x * x).sum(1)
    first = int(rng.integers(n))
    centres = [x[first]]
    closest = _sq_dist(x, x_sq, x[first : first + 1])[:, 0]
    potential = float(closest.sum())
    for _ in range(1, k):
        cumulative = torch.cumsum(closest, 0).cpu().numpy()
        draws = rng.random(n_local_trials) * potential
        candidates = np.minimum(np.searchsorted(cumulative, draws), n - 1)
        cand_dist = _sq_dist(x, x_sq, x[torch.as_tensor(candidates, device=x.device)])  # N × trials
        cand_dist = torch.minimum(cand_dist, closest[:, None])
        pots = cand_dist.sum(0)
        best = int(torch.argmin(pots))
        closest = cand_dist[:, best].contiguous()
        potential = float(pots[best])
        centres.append(x[int(candidates[best])])
    return torch.stack(centres)


def _lloyd(x: torch.Tensor, x_sq: torch.Tensor, centres: torch.Tensor, max_iter: int, tol: float) -> KMeansResult:
    k = centres.shape[0]
    labels = None
    iterations = 0
    for iterations in range(1, max_iter + 1):
        dist = _sq_dist(x, x_sq, centres)
        new_labels = dist.argmin(1)
        if labels is not None and torch.equal(new_labels, labels):
            break  # strict convergence: the assignment no longer changes
        labels = new_labels
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        new_centres = sums / counts.clamp_min(1)[:, None].to(x.dtype)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty):  # relocate empty clusters to the points farthest from their centres
            own = dist.gather(1, labels[:, None])[:, 0]
            far = torch.argsort(own, descending=True, stable=True)[: len(empty)]
            new_centres[empty] = x[far]
        shift = float(((new_centres - centres) ** 2).sum())
        centres = new_centres
        if shift <= tol:
            break
    dist = _sq_dist(x, x_sq, centres)
    labels = dist.argmin(1)
    inertia = float(dist.gather(1, labels[:, None]).sum())
    return KMeansResult(centres, labels, inertia, iterations)


def kmeans(
    x: torch.Tensor, k: int, rng: np.random.Generator, n_init: int = 10, max_iter: int = 300, tol: float = 1e-4
) -> KMeansResult:
    """Best of ``n_init`` k-means++-initialised Lloyd runs by inertia (first on ties), in float64."""
    if n_init < 1 or max_iter < 1 or k < 1:
        raise ValueError(f"kmeans needs k, n_init, max_iter >= 1 (got {k}, {n_init}, {max_iter})")
    if k > x.shape[0]:
        raise ValueError(f"kmeans: {k} clusters for {x.shape[0]} points")
    x = x.double()
    x_sq = (x * x).sum(1)
    abs_tol = float(x.var(0, unbiased=False).mean()) * tol
    best = None
    for _ in range(n_init):
        result = _lloyd(x, x_sq, kmeanspp_init(x, k, rng), max_iter, abs_tol)
        if best is None or result.inertia < best.inertia:
            best = result
    return best


def nearest_to_centres(x: torch.Tensor, result: KMeansResult) -> np.ndarray:
    """Per non-empty cluster (in cluster order), the index of the member nearest its centre."""
    x = x.double()
    d = ((x - result.centres[result.labels]) ** 2).sum(1).cpu().numpy()
    labels = result.labels.cpu().numpy()
    picks = []
    for c in range(result.centres.shape[0]):
        members = np.flatnonzero(labels == c)
        if members.size:
            picks.append(members[np.argmin(d[members])])
    return np.asarray(picks, dtype=np.int64)
