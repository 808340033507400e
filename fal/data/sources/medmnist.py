"""MedMNIST (28 px): medmnist's ``<flag>.npz`` under ``<raw>/medmnist``; the ``val`` split is never used (§1.1).
ChestMNIST is multi-label: NIH ChestX-ray14 at 28 px with its 14 labels, the workstation-sized variant of
KAFAL's Table 4 (its split is MedMNIST's, not the NIH's official one, and keeps the "No Finding" images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.cache import DataIntegrityError, DatasetArrays
from fal.data.sources import SourceFiles

SOURCES = (  # MD5s: Zenodo record 10519652 as listed by medmnist 3.0.2's INFO
    SourceSpec(
        name="octmnist",
        train_counts=(33484, 10213, 7754, 46026),
        test_counts=(250,) * 4,
        raw_md5={"medmnist/octmnist.npz": "c68d92d5b585d8d81f7112f81e2d0842"},
        offline_hint="download it with medmnist on a machine with internet",
    ),
    SourceSpec(
        name="dermamnist",
        train_counts=(228, 359, 769, 80, 779, 4693, 99),
        test_counts=(66, 103, 220, 23, 223, 1341, 29),
        raw_md5={"medmnist/dermamnist.npz": "0744692d530f8e62ec473284d019b0c7"},
        offline_hint="download it with medmnist on a machine with internet",
    ),
    SourceSpec(
        name="pathmnist",
        train_counts=(9366, 9509, 10360, 10401, 8006, 12182, 7886, 9401, 12885),
        test_counts=(1338, 847, 339, 634, 1035, 592, 741, 421, 1233),
        raw_md5={"medmnist/pathmnist.npz": "a8b06965200029087d5bd730944a56c1"},
        offline_hint="download it with medmnist on a machine with internet",
    ),
    SourceSpec(  # multi-label (14 thorax diseases, NIH ChestX-ray14's labels): sizes, not class counts
        name="chestmnist",
        train_counts=(),
        test_counts=(),
        sizes=(78468, 22433),
        raw_md5={"medmnist/chestmnist.npz": "02c8a6516a18b556561a56cbdd36c4a8"},
        offline_hint="download it with medmnist on a machine with internet",
    ),
)
DATASETS = (
    DatasetSpec("octmnist", "octmnist", 4, 1, 28, (0.5,), (0.5,), False, "OCTMNIST"),
    DatasetSpec("dermamnist", "dermamnist", 7, 3, 28, (0.5,), (0.5,), False, "DermaMNIST"),
    DatasetSpec("pathmnist", "pathmnist", 9, 3, 28, (0.5,), (0.5,), False, "PathMNIST"),
    DatasetSpec("chestmnist", "chestmnist", 14, 1, 28, (0.5,), (0.5,), False, "ChestMNIST", multi_label=True),
)


def locate(source: SourceSpec, raw_dir: Path, paths: dict[str, Any]) -> tuple[Path, str] | None:
    npz_path = raw_dir / "medmnist" / f"{source.name}.npz"
    return (npz_path, f"medmnist {source.name} ({npz_path})") if npz_path.exists() else None


def download(source: SourceSpec, raw_dir: Path) -> None:
    import medmnist

    folder = raw_dir / "medmnist"
    folder.mkdir(parents=True, exist_ok=True)
    cls = getattr(medmnist, medmnist.INFO[source.name]["python_class"])
    cls(split="test", download=True, root=str(folder))


def read(source: SourceSpec, npz_path: Path) -> DatasetArrays:
    return read_medmnist(npz_path)


def read_medmnist(npz_path: Path) -> DatasetArrays:
    """Read a MedMNIST ``<flag>.npz`` (28 px). Its ``val`` split is never used (§1.1)."""
    npz_path = Path(npz_path)
    if not npz_path.exists():
        raise FileNotFoundError(f"{npz_path} not found")
    with np.load(npz_path, allow_pickle=False) as npz:
        out: dict[str, np.ndarray] = {}
        for split in ("train", "test"):
            images = np.asarray(npz[f"{split}_images"], dtype=np.uint8)
            if images.ndim == 3:
                images = images[:, None, :, :]
            elif images.ndim == 4:
                images = images.transpose(0, 3, 1, 2)
            else:
                raise DataIntegrityError(f"{npz_path}: {split}_images has shape {images.shape}")
            # Single-label MedMNIST labels come as shape (N, 1); flatten them (§1.1). ChestMNIST's are
            # multi-hot (N, 14): kept as they are (a flattened copy would hold 14 labels per image).
            labels = np.asarray(npz[f"{split}_labels"]).astype(np.int64)
            if labels.ndim != 2 or labels.shape[0] != len(images):
                raise DataIntegrityError(
                    f"{npz_path}: {split}_labels has shape {labels.shape} for {len(images)} images"
                )
            out[f"{split}_images"] = np.ascontiguousarray(images)
            out[f"{split}_labels"] = labels.reshape(-1) if labels.shape[1] == 1 else np.ascontiguousarray(labels)
    return DatasetArrays(**out)


FILES = SourceFiles(locate, download, read)
"""This module's entry point (every source it declares): where the files are, how to get and read them."""
