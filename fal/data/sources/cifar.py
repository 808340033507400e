"""CIFAR-10 and CIFAR-100: torchvision's extracted ``cifar-10-batches-py`` / ``cifar-100-python``
folders (the publisher's pickled batches) under the raw data folder."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.cache import DatasetArrays
from fal.data.sources import SourceFiles

SOURCES = (
    SourceSpec(
        name="cifar10",
        train_counts=(5000,) * 10,
        test_counts=(1000,) * 10,
        raw_md5={  # torchvision 0.29's list
            "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
            "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a",
            "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
        },
        offline_hint="download it with torchvision on a machine with internet",
    ),
    SourceSpec(
        name="cifar100",
        train_counts=(500,) * 100,
        test_counts=(100,) * 100,
        raw_md5={
            "cifar-100-python/train": "16019d7e3df5f24257cddd939b257f8d",
            "cifar-100-python/test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
        },
        offline_hint="download it with torchvision on a machine with internet",
    ),
)
DATASETS = (
    DatasetSpec("cifar10", "cifar10", 10, 3, 32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False, "CIFAR-10"),
    DatasetSpec("cifar10_lt", "cifar10", 10, 3, 32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), True, "CIFAR-10-LT"),
    DatasetSpec("cifar100", "cifar100", 100, 3, 32, (0.507, 0.487, 0.441), (0.267, 0.256, 0.276), False, "CIFAR-100"),
    # Quirk (§1.2): the official CIFAR-100-LT class inherits CIFAR-10-LT's ImageNet statistics.
    DatasetSpec(
        "cifar100_lt", "cifar100", 100, 3, 32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), True, "CIFAR-100-LT"
    ),
)

FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def locate(source: SourceSpec, raw_dir: Path, paths: dict[str, Any]) -> tuple[Path, str] | None:
    folder = raw_dir / FOLDERS[source.name]
    return (raw_dir, f"torchvision {source.name} ({folder})") if folder.exists() else None


def download(source: SourceSpec, raw_dir: Path) -> None:
    from torchvision import datasets

    cls = datasets.CIFAR10 if source.name == "cifar10" else datasets.CIFAR100
    cls(str(raw_dir), train=True, download=True)


def read(source: SourceSpec, folder: Path) -> DatasetArrays:
    return read_cifar(folder, source.name)


def _unpickle_cifar_batch(path: Path) -> dict:
    # CIFAR's official python release is a set of pickled dicts; this is the publisher's format, read
    # once during conversion (our own files never use pickle).
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def read_cifar(root: Path, source: str) -> DatasetArrays:
    """Read torchvision's extracted ``cifar-10-batches-py`` or ``cifar-100-python`` folder."""
    root = Path(root)
    if source == "cifar10":
        folder = root / "cifar-10-batches-py"
        train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
        test_files = [folder / "test_batch"]
        label_key = b"labels"
    elif source == "cifar100":
        folder = root / "cifar-100-python"
        train_files = [folder / "train"]
        test_files = [folder / "test"]
        label_key = b"fine_labels"
    else:
        raise ValueError(f"not a CIFAR source: {source!r}")

    def load(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for path in files:
            if not path.exists():
                raise FileNotFoundError(f"{path} not found")
            batch = _unpickle_cifar_batch(path)
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)

    train_images, train_labels = load(train_files)
    test_images, test_labels = load(test_files)
    return DatasetArrays(train_images, train_labels, test_images, test_labels)


FILES = SourceFiles(locate, download, read)
"""This module's entry point (every source it declares): where the files are, how to get and read them."""
