"""Test helpers shared by several test modules."""

from __future__ import annotations

import numpy as np


def synthetic_arrays(num_classes: int = 4, per_class: int = 60, test_per_class: int = 20, channels: int = 1, size: int = 28, seed: int = 0):
    """Class-dependent uint8 images that a small CNN can learn: class c brightens band c."""
    from fal.data.sources import DatasetArrays

    rng = np.random.default_rng(seed)

    def make(n_per_class):
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
