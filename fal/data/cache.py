"""The verified uint8 array cache of every dataset source, and the arrays it holds.

Every source is converted once into ``<cache_dir>/<source>.npz`` (uint8 images in NCHW order and int64
labels, no pickles) with a JSON sidecar that records the file's SHA-256 and each array's SHA-256.
Loading re-checks the file checksum, so a truncated or edited cache fails loudly with its path. The
publishers' files are found, downloaded and read by the dataset modules (``fal.data.sources``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fal.config.datasets import SourceSpec
from fal.io import atomic_path, write_json_atomic

CACHE_FORMAT_VERSION = 1
"""Layout of the cache files; a cache written under another version is refused with a rebuild hint."""

ARRAY_NAMES = ("train_images", "train_labels", "test_images", "test_labels")


class DataIntegrityError(RuntimeError):
    """A dataset file is missing, corrupt, or not what its checksum says."""


@dataclass(frozen=True)
class DatasetArrays:
    """One source's train and test split: images uint8 (N, C, H, W), labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAY_NAMES}


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# The verified cache


def file_md5(path: Path) -> str:
    h = hashlib.md5()  # the publishers publish MD5s
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_known_checksums(spec: SourceSpec, arrays: DatasetArrays, origin: str, raw_dir: Path | None = None) -> None:
    """Fail when the data differ from the publisher's release: the converted arrays where their SHA-256
    is known (the source's declaration in fal/data/sources/), else every raw file under ``raw_dir``
    with a published MD5."""
    source = spec.name
    for name, expected in spec.array_sha256.items():
        actual = array_sha256(getattr(arrays, name))
        if actual != expected:
            raise DataIntegrityError(
                f"{source} {name} read from {origin} has SHA-256 {actual}, expected {expected}: the raw "
                f"files are corrupt or not the official release. Delete them and download again."
            )
    if spec.array_sha256 or raw_dir is None:
        return
    for rel, expected in spec.raw_md5.items():
        path = Path(raw_dir) / rel
        actual = file_md5(path) if path.exists() else "missing"
        if actual != expected:
            raise DataIntegrityError(
                f"{path} has MD5 {actual}, the publisher's is {expected}: the file is corrupt or from another "
                f"release. Delete it and download it again (data.download: true), then rebuild the cache."
            )


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed NPZ (what ``np.load`` reads) whose bytes depend only on the arrays: ``np.savez``
    stamps each member with the current time, so a rebuilt cache would differ from the old one."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def write_cache(arrays: DatasetArrays, cache_path: Path, meta_path: Path, source: str) -> dict:
    """Write arrays as an uncompressed NPZ (atomically) and its checksum sidecar."""
    cache_path, meta_path = Path(cache_path), Path(meta_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache_path) as tmp:
        write_npz_deterministic(tmp, arrays.as_dict())
    # No origin (where the raw files were read from) here: it is logged, and the sidecar is an input of
    # every downstream job, so the same data read from elsewhere must give the same bytes.
    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "source": source,
        "file": cache_path.name,
        "file_sha256": file_sha256(cache_path),
        "arrays": {
            name: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": array_sha256(a)}
            for name, a in arrays.as_dict().items()
        },
    }
    write_json_atomic(meta_path, meta)
    return meta


def load_cache(cache_path: Path, meta_path: Path) -> DatasetArrays:
    """Load a cached source after checking its file checksum against the sidecar."""
    cache_path, meta_path = Path(cache_path), Path(meta_path)
    for path in (cache_path, meta_path):
        if not path.exists():
            raise DataIntegrityError(f"{path} is missing. Rebuild the cache with `snakemake --cores 1 {cache_path}`.")
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") != CACHE_FORMAT_VERSION:
        raise DataIntegrityError(
            f"{meta_path} records cache format {meta.get('format_version')!r}, this code reads format "
            f"{CACHE_FORMAT_VERSION}. Delete both files and rebuild with `snakemake --cores 1 {cache_path}`."
        )
    actual = file_sha256(cache_path)
    if actual != meta["file_sha256"]:
        raise DataIntegrityError(
            f"{cache_path} has SHA-256 {actual} but {meta_path} records {meta['file_sha256']}: the cache is "
            f"corrupt or was modified. Delete both files and rebuild with "
            f"`snakemake --cores 1 {cache_path}`."
        )
    with np.load(cache_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in ARRAY_NAMES}
    return DatasetArrays(**arrays)
