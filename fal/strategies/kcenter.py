"""Greedy k-center with an incremental nearest-centre distance (O(N·d) per pick, never N×N)."""

from __future__ import annotations

import numpy as np


def squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """‖a‖² + ‖b‖² − 2a·b for every (point, centre) pair, in the inputs' dtype (may be slightly < 0)."""
    aa = (points * points).sum(axis=1, keepdims=True)
    bb = (centres * centres).sum(axis=1, keepdims=True).T
    return aa + bb - 2.0 * (points @ centres.T)


def kcenter_greedy(
    points: np.ndarray,
    k: int,
    anchors: np.ndarray | None = None,
    first: int = 0,
) -> np.ndarray:
    """Pick ``k`` of ``points`` greedily, each the farthest (squared Euclidean) from all centres so far.

    Centres start as ``anchors`` (e.g. labelled samples). Without anchors, ``first`` is picked first.
    Picked points are excluded from later picks. Ties go to the lowest index. Returns indices into
    ``points`` in pick order; all of them when ``k >= len(points)``.
    """
    m = points.shape[0]
    if k <= 0 or m == 0:
        return np.empty(0, dtype=np.int64)
    if m <= k:
        return np.arange(m, dtype=np.int64)
    if anchors is not None and anchors.shape[0] > 0:
        min_dist = np.empty(m, dtype=np.result_type(points, anchors))
        # chunk over anchors so memory stays O(m · chunk)
        min_dist[:] = np.inf
        for start in range(0, anchors.shape[0], 4096):
            block = squared_distances(points, anchors[start : start + 4096])
            np.minimum(min_dist, block.min(axis=1), out=min_dist)
        selected: list[int] = []
    else:
        selected = [int(first)]
        min_dist = squared_distances(points, points[[first]])[:, 0]
        min_dist[first] = -np.inf
    while len(selected) < k:
        j = int(np.argmax(min_dist))
        if not np.isfinite(min_dist[j]):
            break
        selected.append(j)
        np.minimum(min_dist, squared_distances(points, points[[j]])[:, 0], out=min_dist)
        min_dist[selected] = -np.inf
    return np.asarray(selected, dtype=np.int64)
