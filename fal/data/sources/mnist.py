"""MNIST (KAFAL's appendix A.7, its Fig. 11): the four IDX files torchvision downloads into
``<raw>/MNIST/raw``, read like Fashion-MNIST's (the same format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.cache import DatasetArrays
from fal.data.sources import SourceFiles
from fal.data.sources.fmnist import FMNIST_FILES, find_idx, read_fmnist

SOURCES = (
    SourceSpec(
        name="mnist",
        train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
        raw_md5={  # torchvision 0.29's list
            "MNIST/raw/train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "MNIST/raw/train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "MNIST/raw/t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "MNIST/raw/t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        offline_hint="download it with torchvision on a machine with internet (MNIST/raw/*.gz under paths.data_raw)",
    ),
)
DATASETS = (
    # torchvision's usual MNIST normalisation (KAFAL's code does not cover MNIST)
    DatasetSpec("mnist", "mnist", 10, 1, 28, (0.1307,), (0.3081,), False, "MNIST"),
)


def locate(source: SourceSpec, raw_dir: Path, paths: dict[str, Any]) -> tuple[Path, str] | None:
    folder = raw_dir / "MNIST" / "raw"
    if all(find_idx(folder, stem) for stem in FMNIST_FILES.values()):
        return folder, f"torchvision MNIST ({folder})"
    return None


def download(source: SourceSpec, raw_dir: Path) -> None:
    from torchvision import datasets

    for train in (True, False):
        datasets.MNIST(str(raw_dir), train=train, download=True)


def read(source: SourceSpec, folder: Path) -> DatasetArrays:
    """The four IDX files: MNIST and Fashion-MNIST share their names and format."""
    return read_fmnist(folder)


FILES = SourceFiles(locate, download, read)
"""This module's entry point (every source it declares): where the files are, how to get and read them."""
