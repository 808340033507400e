"""SVHN: torchvision's ``train_32x32.mat`` and ``test_32x32.mat`` under ``<raw>/svhn`` (LoGo Table 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.cache import DataIntegrityError, DatasetArrays
from fal.data.sources import SourceFiles

SOURCES = (
    SourceSpec(
        name="svhn",
        train_counts=(4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),  # label 10 → digit 0
        test_counts=(1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595),
        raw_md5={  # torchvision 0.29's list
            "svhn/train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
            "svhn/test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
        },
        offline_hint="download it with torchvision on a machine with internet",
    ),
)
DATASETS = (
    # LoGo Table 3's other columns (reference-spec §1.2 "LG differences"): LoGo's own statistics
    DatasetSpec(
        "svhn",
        "svhn",
        10,
        3,
        32,
        (0.4376821, 0.4437697, 0.47280442),
        (0.19803012, 0.20101562, 0.19703614),
        False,
        "SVHN",
    ),
)


def locate(source: SourceSpec, raw_dir: Path, paths: dict[str, Any]) -> tuple[Path, str] | None:
    folder = raw_dir / "svhn"
    if (folder / "train_32x32.mat").exists() and (folder / "test_32x32.mat").exists():
        return folder, f"torchvision SVHN ({folder})"
    return None


def download(source: SourceSpec, raw_dir: Path) -> None:
    from torchvision import datasets

    for split in ("train", "test"):
        datasets.SVHN(str(raw_dir / "svhn"), split=split, download=True)


def read(source: SourceSpec, folder: Path) -> DatasetArrays:
    return read_svhn(folder)


def read_svhn(folder: Path) -> DatasetArrays:
    """Read SVHN's ``train_32x32.mat`` and ``test_32x32.mat`` (what torchvision downloads; the ``extra``
    split is not used). Images come as (32, 32, 3, N) and become NCHW; label 10 means digit 0, as in
    torchvision (reference-spec §1.2)."""
    from scipy.io import loadmat

    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        path = Path(folder) / f"{split}_32x32.mat"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found")
        mat = loadmat(str(path))
        images = np.asarray(mat["X"], dtype=np.uint8)
        if images.ndim != 4 or images.shape[:3] != (32, 32, 3):
            raise DataIntegrityError(f"{path}: X has shape {images.shape}, expected (32, 32, 3, N)")
        labels = np.asarray(mat["y"]).reshape(-1).astype(np.int64)
        labels[labels == 10] = 0
        out[f"{split}_images"] = np.ascontiguousarray(images.transpose(3, 2, 0, 1))
        out[f"{split}_labels"] = labels
    return DatasetArrays(**out)


FILES = SourceFiles(locate, download, read)
"""This module's entry point (every source it declares): where the files are, how to get and read them."""
