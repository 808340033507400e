"""The dataset catalog (reference-spec §1.1–§1.3), read from the dataset modules' declarations.

A *dataset key* names what the experiments use (``fmnist_lt``, ``octmnist``, …); its *source* is the
raw dataset that is downloaded and cached once (``fmnist``, ``cifar10``, …). Long-tailed keys share the
source of their balanced original. Each module of ``fal/data/sources/`` declares its sources
(``SOURCES``: split sizes, known checksums) and dataset keys (``DATASETS``: classes, image shape,
normalisation) beside the functions that find, download and read the publisher's files; this module
finds the declarations by parsing those files (``fal.config.declarations``), so configuration checks
stay torch-free and adding a dataset is one new module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from fal.config.declarations import FAL_ROOT, module_name, modules_in, read_declarations

SOURCES_DIR = FAL_ROOT / "data" / "sources"


@dataclass(frozen=True)
class SourceSpec:
    """One raw dataset as its publisher releases it."""

    name: str
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
    the reader then checks what it can (the split sizes) and ``sizes`` is the data's identity."""
    offline_hint: str = "download it on a machine with internet"
    """What to do when the raw files are missing and downloads are disabled."""
    module: str = field(default="", compare=False)
    """The dataset module that declares it (filled in by discovery): its ``locate``, ``download`` and
    ``read`` functions handle the files."""

    @property
    def num_train(self) -> int:
        return sum(self.train_counts) if self.train_counts else self.sizes[0]

    @property
    def num_test(self) -> int:
        return sum(self.test_counts) if self.test_counts else self.sizes[1]

    @property
    def identity(self) -> dict[str, dict[str, str | int]]:
        """Everything known about the source's correct content: the data's identity as a rule param
        (where the files are read from is not part of it)."""
        identity: dict[str, dict[str, str | int]] = {}
        if self.array_sha256:
            identity["array_sha256"] = dict(self.array_sha256)
        if self.raw_md5:
            identity["raw_md5"] = dict(self.raw_md5)
        if not identity and self.no_checksums:
            identity["sizes"] = dict(zip(("train", "test"), self.sizes or (self.num_train, self.num_test)))
        return identity


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
    label: str
    """Display name in tables and figures."""
    multi_label: bool = False
    """Each image has a multi-hot vector over ``num_classes`` labels (ChestMNIST, NIH ChestX-ray14: KAFAL
    Table 4): sigmoid outputs, BCE training, mean AUC, and only the strategies that declare multi-label
    scores."""

    @property
    def partition_classes(self) -> int:
        """Classes of the partition table's ``label`` column: the classes, or for multi-label data each
        image's partition label plus one for images without a label (fal.config.setting.MULTILABEL_PARTITION_RULES)."""
        return self.num_classes + 1 if self.multi_label else self.num_classes

    def channel_mean(self) -> tuple[float, ...]:
        return self.mean if len(self.mean) == self.channels else self.mean * self.channels

    def channel_std(self) -> tuple[float, ...]:
        return self.std if len(self.std) == self.channels else self.std * self.channels


def discover_datasets(directory: Path = SOURCES_DIR) -> tuple[dict[str, SourceSpec], dict[str, DatasetSpec]]:
    """Every source and dataset key declared in ``directory``'s modules, checked for consistency."""
    types = {"SourceSpec": SourceSpec, "DatasetSpec": DatasetSpec}
    sources: dict[str, SourceSpec] = {}
    datasets: dict[str, DatasetSpec] = {}
    for path in modules_in(directory):
        for declared in read_declarations(path, "SOURCES", types):
            source = replace(declared, module=module_name(path))
            if source.name in sources:
                raise ValueError(f"dataset source {source.name!r} is declared twice ({path})")
            if not (source.array_sha256 or source.raw_md5 or source.no_checksums):
                raise ValueError(
                    f"{path}: source {source.name!r} declares no checksums (array_sha256 or raw_md5) "
                    "and no reason why not (no_checksums)"
                )
            sources[source.name] = source
        for spec in read_declarations(path, "DATASETS", types):
            if spec.key in datasets:
                raise ValueError(f"dataset {spec.key!r} is declared twice ({path})")
            datasets[spec.key] = spec
    for spec in datasets.values():
        if spec.source not in sources:
            raise ValueError(f"dataset {spec.key!r} names an undeclared source {spec.source!r}")
        source = sources[spec.source]
        if spec.multi_label:
            if source.train_counts or len(source.sizes) != 2 or spec.long_tailed:
                raise ValueError(
                    f"multi-label dataset {spec.key!r}: its source {spec.source!r} declares sizes=(train, test) "
                    "and no class counts, and it cannot be long-tailed"
                )
        elif len(source.train_counts) != spec.num_classes:
            raise ValueError(
                f"dataset {spec.key!r} has {spec.num_classes} classes, its source {spec.source!r} another count"
            )
    return sources, datasets


SOURCES, DATASETS = discover_datasets()

DATASET_LABELS: dict[str, str] = {key: spec.label for key, spec in DATASETS.items()}
"""Display names, derived from the catalogue (tables, figures and captions use these)."""


def get_dataset_spec(key: str) -> DatasetSpec:
    try:
        return DATASETS[key]
    except KeyError:
        raise ValueError(f"unknown dataset {key!r}; known datasets: {', '.join(sorted(DATASETS))}") from None


def source_of(key: str) -> SourceSpec:
    """The source a dataset key is built from."""
    return SOURCES[get_dataset_spec(key).source]


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
