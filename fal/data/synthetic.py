"""Synthetic datasets for tests, benchmarks and the GPU check: class-dependent uint8 images (class c
brightens band c) that a small CNN learns in a few steps. One place, so that every check trains on the
same kind of data; it needs only numpy (the GPU check runs where nothing else is installed)."""

from __future__ import annotations

import numpy as np

from fal.data.cache import DatasetArrays


def synthetic_arrays(
    num_classes: int = 4,
    per_class: int = 60,
    test_per_class: int = 20,
    channels: int = 1,
    size: int = 28,
    seed: int = 0,
) -> DatasetArrays:
    """``per_class`` training and ``test_per_class`` test images of each class, shuffled, from ``seed``."""
    rng = np.random.default_rng(seed)

    def make(n_per_class: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(num_classes), n_per_class)
        images = rng.integers(0, 60, size=(len(labels), channels, size, size), dtype=np.uint8)
        band = size // num_classes
        for i, c in enumerate(labels):
            images[i, :, c * band : (c + 1) * band, :] += 150
        order = rng.permutation(len(labels))
        return images[order], labels[order].astype(np.int64)

    train_images, train_labels = make(per_class)
    test_images, test_labels = make(test_per_class)
    return DatasetArrays(train_images, train_labels, test_images, test_labels)
