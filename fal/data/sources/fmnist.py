"""Fashion-MNIST: the four IDX files (gzipped or not), from Debian's ``dataset-fashion-mnist`` when
installed (``paths.fmnist_system``), else downloaded by torchvision into ``<raw>/FashionMNIST/raw``."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.cache import DataIntegrityError, DatasetArrays
from fal.data.sources import SourceFiles

SOURCES = (
    SourceSpec(
        name="fmnist",
        train_counts=(6000,) * 10,
        test_counts=(1000,) * 10,
        # SHA-256 of the converted arrays: Debian's package recompresses the IDX files (so the
        # publisher's MD5s of the .gz files differ) but the decoded arrays are byte-identical.
        array_sha256={
            "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "train_labels": "e3245b63f7c40d1c8b652835f19744d970c1613b40ddac6bcfc87b9c46e16a0b",
            "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "test_labels": "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae",
        },
        offline_hint="apt-get install dataset-fashion-mnist",
    ),
)
DATASETS = (
    DatasetSpec("fmnist", "fmnist", 10, 1, 28, (0.286,), (0.353,), False, "Fashion-MNIST"),
    DatasetSpec("fmnist_lt", "fmnist", 10, 1, 28, (0.286,), (0.353,), True, "Fashion-MNIST-LT"),
)

FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def locate(source: SourceSpec, raw_dir: Path, paths: dict[str, Any]) -> tuple[Path, str] | None:
    system = paths.get("fmnist_system")
    if system is not None and find_idx(Path(system), FMNIST_FILES["train_images"]):
        return Path(system), f"Debian dataset-fashion-mnist ({system})"
    folder = raw_dir / "FashionMNIST" / "raw"
    if find_idx(folder, FMNIST_FILES["train_images"]):
        return folder, f"torchvision FashionMNIST ({folder})"
    return None


def download(source: SourceSpec, raw_dir: Path) -> None:
    from torchvision import datasets

    for train in (True, False):
        datasets.FashionMNIST(str(raw_dir), train=train, download=True)


def read(source: SourceSpec, folder: Path) -> DatasetArrays:
    return read_fmnist(folder)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) of unsigned bytes into an array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataIntegrityError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise DataIntegrityError(f"{path}: only unsigned-byte IDX files are supported")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) if dims else 0
    if len(data) - offset != expected:
        raise DataIntegrityError(
            f"{path} is truncated: header declares shape {dims} ({expected} bytes) but "
            f"{len(data) - offset} bytes follow"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims).copy()


def find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    return None


def read_fmnist(directory: Path) -> DatasetArrays:
    """Read the four Fashion-MNIST IDX files from one directory."""
    directory = Path(directory)
    arrays = {}
    for name, stem in FMNIST_FILES.items():
        path = find_idx(directory, stem)
        if path is None:
            raise FileNotFoundError(f"{directory}/{stem}[.gz] not found")
        arrays[name] = read_idx(path)
    return DatasetArrays(
        train_images=arrays["train_images"][:, None, :, :],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"][:, None, :, :],
        test_labels=arrays["test_labels"].astype(np.int64),
    )


FILES = SourceFiles(locate, download, read)
"""This module's entry point (every source it declares): where the files are, how to get and read them."""
