"""Long-tailed training subsets (reference-spec §1.3).

Class ``i`` keeps ``int(img_max * (1/rho) ** (i / (C - 1)))`` images (IEEE double, truncation), class 0
being the head. The subset is stored class by class: class 0's block first, each block in the order
of a per-class shuffle drawn from a NumPy ``RandomState``.
"""

from __future__ import annotations

import numpy as np


def longtail_counts(num_train: int, num_classes: int, rho: float, img_max: float | None = None) -> list[int]:
    """Per-class image counts of the exponential profile.

    ``img_max`` defaults to ``num_train / num_classes`` as a float (6000.0 for Fashion-MNIST); a smaller
    value keeps the same profile on fewer images (reduced protocols).
    """
    if rho < 1:
        raise ValueError(f"rho (imbalance ratio head/tail) must be >= 1, got {rho}")
    if num_classes < 2:
        raise ValueError(f"a long tail needs at least 2 classes, got {num_classes}")
    imb_factor = 1.0 / rho
    top = float(num_train) / num_classes if img_max is None else float(img_max)
    return [int(top * (imb_factor ** (i / (num_classes - 1.0)))) for i in range(num_classes)]


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
