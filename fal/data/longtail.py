"""Long-tailed training subsets (reference-spec §1.3).

Class ``i`` keeps ``fal.config.datasets.longtail_counts(...)[i]`` images, class 0 being the head. The subset is stored class by class: class 0's block first, each block in the order
of a per-class shuffle drawn from a NumPy ``RandomState``.
"""

from __future__ import annotations

import numpy as np


def select_longtail(labels: np.ndarray, counts: list[int], rng: np.random.RandomState) -> np.ndarray:
    """Original indices of the long-tailed subset, class-contiguous, classes in ascending order.

    For each class, its indices are shuffled with ``rng`` (one ``shuffle`` call per class, as the
    official code does on the global NumPy RNG) and the first ``counts[c]`` are kept.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) != len(counts):
        raise ValueError(f"{len(counts)} class counts given for {len(classes)} classes in the labels")
    blocks = []
    for cls, count in zip(classes, counts):
        idx = np.where(labels == cls)[0]
        if count > len(idx):
            raise ValueError(f"class {cls} has {len(idx)} images, cannot keep {count}")
        rng.shuffle(idx)
        blocks.append(idx[:count])
    return np.concatenate(blocks).astype(np.int64)


def balanced_test_subset(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the test set to evaluate on: all of it, or the first ``per_class`` of each class.

    The reduced subset is deterministic (file order) and the same for every seed, so runs stay paired.
    """
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels), dtype=np.int64)
    keep = []
    for cls in np.unique(labels):
        idx = np.where(labels == cls)[0]
        if per_class > len(idx):
            raise ValueError(f"test_per_class={per_class} but class {cls} has only {len(idx)} test images")
        keep.append(idx[:per_class])
    return np.sort(np.concatenate(keep)).astype(np.int64)
