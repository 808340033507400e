"""What a dataset module declares (``SOURCES`` and ``DATASETS`` in its module of ``fal/data/sources/``),
and the long-tail profile (reference-spec §1.1–§1.3).

A *dataset key* names what the experiments use (``fmnist_lt``, ``octmnist``, …); its *source* is the
raw dataset that is downloaded and cached once (``fmnist``, ``cifar10``, …). Long-tailed keys share the
source of their balanced original. The planning side reads the declarations without importing the
modules (``fal.plan.catalog.SOURCES``, ``DATASETS``); a job gets its source's or dataset's declaration
in its params.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.registry import Declaration

MULTI_LABEL_MODULES = ("fal.stats.auc", "fal.strategies.multilabel")
"""The modules only multi-label data runs (the mean AUC, the multi-label query scores). Jobs load what they
need of them by name (``fal.registry.load_entry``) when their dataset is multi-label, and the code hash of
exactly those jobs covers them (workflow/rules/params.smk): editing one reruns no single-label job."""


@dataclass(frozen=True)
class SourceSpec(Declaration):
    """One raw dataset as its publisher releases it; its entry point is the module's ``FILES``
    (``fal.data.sources.SourceFiles``: where its files are, how to download and read them)."""

    train_counts: tuple[int, ...]
    """Images per class of the training split (checks configurations before anything runs); empty for a
    multi-label source, whose images carry several labels (``sizes`` then)."""
    test_counts: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    """(training, test) images of a multi-label source (its class counts do not add up to them)."""
    array_sha256: dict[str, str] = field(default_factory=dict)
    """SHA-256 of the converted arrays (uint8 NCHW images, int64 labels), where the canonical arrays
    could be checked; the data must match them."""
    raw_md5: dict[str, str] = field(default_factory=dict)
    """The publisher's MD5 of each raw file, by path relative to the raw data folder (what torchvision
    and medmnist check their downloads against); used when ``array_sha256`` is not known."""
    no_checksums: str = ""
    """Why neither array nor raw checksums are declared (the publisher publishes none, NIH ChestX-ray14);
    the reader then checks what it can (the split sizes) and ``sizes`` is what the data must match."""
    offline_hint: str = "download it on a machine with internet"
    """What to do when the raw files are missing and downloads are disabled."""

    def __post_init__(self) -> None:
        if not self.entry:
            object.__setattr__(self, "entry", "FILES")

    @property
    def num_train(self) -> int:
        return sum(self.train_counts) if self.train_counts else self.sizes[0]

    @property
    def num_test(self) -> int:
        return sum(self.test_counts) if self.test_counts else self.sizes[1]

    @property
    def checksums(self) -> dict[str, dict[str, str | int]]:
        """Everything known about the source's correct content (its prepare job's param: where the files
        are read from is not part of it)."""
        checksums: dict[str, dict[str, str | int]] = {}
        if self.array_sha256:
            checksums["array_sha256"] = dict(self.array_sha256)
        if self.raw_md5:
            checksums["raw_md5"] = dict(self.raw_md5)
        if not checksums and self.no_checksums:
            checksums["sizes"] = dict(zip(("train", "test"), self.sizes or (self.num_train, self.num_test)))
        return checksums

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SourceSpec:
        """The declaration a prepare job gets in its params (``Declaration.to_params``)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset key: a source, optionally subsampled to a long tail, with its normalisation."""

    key: str
    source: str
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    long_tailed: bool
    """True when the training split is subsampled to an exponential long tail (§1.3)."""
    label: str = ""
    """Display name in tables and figures (not in jobs' params)."""
    multi_label: bool = False
    """Each image has a multi-hot vector over ``num_classes`` labels (ChestMNIST, NIH ChestX-ray14: KAFAL
    Table 4): sigmoid outputs, BCE training, mean AUC, and only the strategies that declare multi-label
    scores."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DatasetSpec:
        """The declaration a job gets in its params (``to_params``)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values)

    def to_params(self) -> dict[str, Any]:
        """What a job computes with, as plain data: every field but the display name (a label changes
        only tables and figures)."""
        return {
            "key": self.key,
            "source": self.source,
            "num_classes": self.num_classes,
            "channels": self.channels,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "long_tailed": self.long_tailed,
            "multi_label": self.multi_label,
        }

    @property
    def partition_classes(self) -> int:
        """Classes of the partition table's ``label`` column: the classes, or for multi-label data each
        image's partition label plus one for images without a label (fal.config.setting.MULTILABEL_PARTITION_RULES)."""
        return self.num_classes + 1 if self.multi_label else self.num_classes

    def channel_mean(self) -> tuple[float, ...]:
        return self.mean if len(self.mean) == self.channels else self.mean * self.channels

    def channel_std(self) -> tuple[float, ...]:
        return self.std if len(self.std) == self.channels else self.std * self.channels


def longtail_counts(num_train: int, num_classes: int, rho: float, img_max: float | None = None) -> list[int]:
    """Per-class image counts of the exponential long-tail profile (§1.3): class ``i`` keeps
    ``int(img_max * (1/rho) ** (i / (C - 1)))`` images (IEEE double, truncation), class 0 being the head.

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
