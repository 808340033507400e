"""NIH ChestX-ray14 (Wang et al., CVPR 2017), the data of KAFAL's Table 4 (paper appendix A.6), read
from the folder a user downloaded from the NIH (https://nihcc.app.box.com/v/ChestXray-NIHCC: the
``images_*.tar.gz`` archives unpacked, ``Data_Entry_2017.csv``, ``train_val_list.txt``, ``test_list.txt``).
The NIH publishes no checksums and its Box folder has no download API, so nothing is downloaded here and
the split sizes are the check.

KAFAL's setting: the official split (``train_val_list.txt`` / ``test_list.txt``) without the images
tagged "No Finding", which leaves 36,024 training and 15,735 test images, each with a multi-hot vector
over the 14 thorax-disease labels (in the NIH's order, which ChestMNIST's labels follow). The 1024-px
images are converted to grayscale and resized once (bilinear, antialiased) to ``image_size``; 224 px,
the input of torchvision's ResNet-50 with its ImageNet stem, unless the caller asks otherwise.

Place the files under ``<paths.data_raw>/nih_chestxray14/`` (any layout of the PNGs below it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.cache import DataIntegrityError, DatasetArrays
from fal.data.sources import SourceFiles

SOURCES = (
    SourceSpec(
        name="nih_chestxray14",
        train_counts=(),
        test_counts=(),
        sizes=(36024, 15735),
        no_checksums="the NIH publishes no checksums for ChestX-ray14; the reader checks the split sizes",
        offline_hint=(
            "download it from https://nihcc.app.box.com/v/ChestXray-NIHCC into <paths.data_raw>/nih_chestxray14/ "
            "(images_*.tar.gz unpacked, Data_Entry_2017.csv, train_val_list.txt, test_list.txt)"
        ),
    ),
)
DATASETS = (
    DatasetSpec(
        "nih_chestxray14", "nih_chestxray14", 14, 1, 224, (0.5,), (0.5,), False, "NIH ChestX-ray14", multi_label=True
    ),
)
IMAGE_SIZE = 224
"""The cached images' side (the dataset key's image_size; ResNet-50's ImageNet input)."""

NIH_LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NO_FINDING = "No Finding"
OFFICIAL_SIZES = {"train": 36024, "test": 15735}
"""Images of the official split left after removing "No Finding" (KAFAL paper, appendix A.6)."""
SPLIT_LISTS = {"train": "train_val_list.txt", "test": "test_list.txt"}
ENTRIES = "Data_Entry_2017.csv"
DOWNLOAD_HINT = (
    "download NIH ChestX-ray14 from https://nihcc.app.box.com/v/ChestXray-NIHCC (images_001.tar.gz … "
    f"images_012.tar.gz unpacked, {ENTRIES}, {SPLIT_LISTS['train']}, {SPLIT_LISTS['test']}) into one folder"
)


def read_findings(folder: Path) -> pd.DataFrame:
    """Each image's multi-hot labels (columns NIH_LABELS, int64), indexed by file name, "No Finding"
    images included (all zeros). Unknown finding names are an error: they mean another release."""
    path = Path(folder) / ENTRIES
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {DOWNLOAD_HINT}")
    entries = pd.read_csv(path, usecols=["Image Index", "Finding Labels"], dtype=str)
    findings = entries["Finding Labels"].str.split("|")
    unknown = sorted({f for names in findings for f in names} - set(NIH_LABELS) - {NO_FINDING})
    if unknown:
        raise DataIntegrityError(f"{path}: unknown finding labels {unknown}; expected the NIH's 14 and {NO_FINDING!r}")
    hot = np.array([[name in names for name in NIH_LABELS] for names in findings], dtype=np.int64)
    return pd.DataFrame(hot, index=entries["Image Index"].to_numpy(), columns=list(NIH_LABELS))


def _image_paths(folder: Path) -> dict[str, Path]:
    """Every PNG under ``folder`` by file name (the archives unpack to images_NNN/images/ or images/)."""
    return {p.name: p for p in Path(folder).rglob("*.png")}


def _resized(path: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        gray = image.convert("L")
        if gray.size != (image_size, image_size):
            gray = gray.resize((image_size, image_size), Image.Resampling.BILINEAR, reducing_gap=None)
        return np.asarray(gray, dtype=np.uint8)


def read_nih_chestxray14(
    folder: Path, image_size: int = 224, expected_sizes: dict[str, int] | None = OFFICIAL_SIZES
) -> DatasetArrays:
    """The official split without "No Finding": uint8 images (N, 1, image_size, image_size) and multi-hot
    int64 labels (N, 14), in each list file's order. ``expected_sizes`` (None: no check) catches an
    incomplete download or another release."""
    folder = Path(folder)
    findings = read_findings(folder)
    images_by_name = _image_paths(folder)
    out: dict[str, np.ndarray] = {}
    for split, list_name in SPLIT_LISTS.items():
        list_path = folder / list_name
        if not list_path.exists():
            raise FileNotFoundError(f"{list_path} not found: {DOWNLOAD_HINT}")
        names = [line.strip() for line in list_path.read_text().splitlines() if line.strip()]
        unlisted = [n for n in names if n not in findings.index]
        if unlisted:
            raise DataIntegrityError(f"{list_path}: {len(unlisted)} images missing from {ENTRIES}, e.g. {unlisted[:3]}")
        labels = findings.loc[names].to_numpy()
        kept = [n for n, row in zip(names, labels) if row.any()]  # "No Finding" is an all-zero row
        if expected_sizes is not None and len(kept) != expected_sizes[split]:
            raise DataIntegrityError(
                f"{list_path}: {len(kept)} {split} images with a finding, the official split has "
                f"{expected_sizes[split]}: an incomplete or different release ({DOWNLOAD_HINT})"
            )
        missing = [n for n in kept if n not in images_by_name]
        if missing:
            raise DataIntegrityError(
                f"{folder}: {len(missing)} {split} images are listed but not on disk, e.g. {missing[:3]}; "
                "unpack every images_*.tar.gz archive there"
            )
        out[f"{split}_images"] = np.stack([_resized(images_by_name[n], image_size) for n in kept])[:, None]
        out[f"{split}_labels"] = np.ascontiguousarray(findings.loc[kept].to_numpy())
    return DatasetArrays(**out)


def locate(source: SourceSpec, raw_dir: Path, paths: dict) -> tuple[Path, str] | None:
    folder = Path(raw_dir) / source.name
    return (folder, f"NIH ChestX-ray14 ({folder})") if (folder / ENTRIES).exists() else None


def download(source: SourceSpec, raw_dir: Path) -> None:
    raise FileNotFoundError(
        f"the NIH's Box folder has no download API: {DOWNLOAD_HINT} and place it in {Path(raw_dir) / source.name}"
    )


def read(source: SourceSpec, folder: Path) -> DatasetArrays:
    return read_nih_chestxray14(folder, IMAGE_SIZE, dict(zip(("train", "test"), source.sizes)))


FILES = SourceFiles(locate, download, read)
"""This module's entry point (every source it declares): where the files are, how to get and read them."""
