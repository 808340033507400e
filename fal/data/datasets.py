"""Dataset catalogue: what each dataset key means (reference-spec §1.1–§1.2).

A *dataset key* names what the experiments use (``fmnist_lt``, ``octmnist``, …); its *source* is the
raw dataset that is downloaded and cached once (``fmnist``, ``cifar10``, …). Long-tailed keys share the
source of their balanced original.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    key: str
    source: str
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    long_tailed: bool
    """True when the training split is subsampled to an exponential long tail (§1.3)."""
    label: str
    """Display name in tables and figures."""

    def channel_mean(self) -> tuple[float, ...]:
        return self.mean if len(self.mean) == self.channels else self.mean * self.channels

    def channel_std(self) -> tuple[float, ...]:
        return self.std if len(self.std) == self.channels else self.std * self.channels


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

DATASETS: dict[str, DatasetSpec] = {
    spec.key: spec
    for spec in [
        DatasetSpec("fmnist", "fmnist", 10, 1, 28, (0.286,), (0.353,), False, "Fashion-MNIST"),
        DatasetSpec("fmnist_lt", "fmnist", 10, 1, 28, (0.286,), (0.353,), True, "Fashion-MNIST-LT"),
        DatasetSpec("cifar10", "cifar10", 10, 3, 32, _IMAGENET_MEAN, _IMAGENET_STD, False, "CIFAR-10"),
        DatasetSpec("cifar10_lt", "cifar10", 10, 3, 32, _IMAGENET_MEAN, _IMAGENET_STD, True, "CIFAR-10-LT"),
        DatasetSpec("cifar100", "cifar100", 100, 3, 32, (0.507, 0.487, 0.441), (0.267, 0.256, 0.276), False, "CIFAR-100"),
        # Quirk (§1.2): the official CIFAR-100-LT class inherits CIFAR-10-LT's ImageNet statistics.
        DatasetSpec("cifar100_lt", "cifar100", 100, 3, 32, _IMAGENET_MEAN, _IMAGENET_STD, True, "CIFAR-100-LT"),
        DatasetSpec("octmnist", "octmnist", 4, 1, 28, (0.5,), (0.5,), False, "OCTMNIST"),
        DatasetSpec("dermamnist", "dermamnist", 7, 3, 28, (0.5,), (0.5,), False, "DermaMNIST"),
        # LoGo Table 3's other columns (reference-spec §1.2 "LG differences"): LoGo's own statistics
        DatasetSpec(
            "svhn", "svhn", 10, 3, 32, (0.4376821, 0.4437697, 0.47280442), (0.19803012, 0.20101562, 0.19703614), False, "SVHN"
        ),
        DatasetSpec("pathmnist", "pathmnist", 9, 3, 28, (0.5,), (0.5,), False, "PathMNIST"),
    ]
}

SOURCES = sorted({spec.source for spec in DATASETS.values()})

DATASET_LABELS: dict[str, str] = {key: spec.label for key, spec in DATASETS.items()}
"""Display names, derived from the catalogue (tables, figures and captions use these)."""

#: Per-class image counts of each source's training and test split (reference-spec §1.1). Used to
#: check configurations before anything runs; the data themselves are checked when loaded.
SOURCE_TRAIN_COUNTS: dict[str, list[int]] = {
    "fmnist": [6000] * 10,
    "cifar10": [5000] * 10,
    "cifar100": [500] * 100,
    "octmnist": [33484, 10213, 7754, 46026],
    "dermamnist": [228, 359, 769, 80, 779, 4693, 99],
    "svhn": [4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659],  # label 10 → digit 0, as torchvision
    "pathmnist": [9366, 9509, 10360, 10401, 8006, 12182, 7886, 9401, 12885],
}
SOURCE_TEST_COUNTS: dict[str, list[int]] = {
    "fmnist": [1000] * 10,
    "cifar10": [1000] * 10,
    "cifar100": [100] * 100,
    "octmnist": [250] * 4,
    "dermamnist": [66, 103, 220, 23, 223, 1341, 29],
    "svhn": [1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595],
    "pathmnist": [1338, 847, 339, 634, 1035, 592, 741, 421, 1233],
}


def get_dataset_spec(key: str) -> DatasetSpec:
    try:
        return DATASETS[key]
    except KeyError:
        raise ValueError(
            f"unknown dataset {key!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None
