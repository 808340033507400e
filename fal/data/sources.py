"""Raw dataset readers, downloads, and the verified uint8 array cache.

Every source is converted once into ``<cache_dir>/<source>.npz`` (uint8 images in NCHW order and int64
labels, no pickles) with a JSON sidecar that records the file's SHA-256 and each array's SHA-256.
Loading re-checks the file checksum, so a truncated or edited cache fails loudly with its path.

Readers accept the datasets' own on-disk formats: IDX (gzipped or not) for Fashion-MNIST, the
``cifar-*-python`` batches and SVHN's ``*_32x32.mat`` that torchvision downloads, and MedMNIST's ``<flag>.npz``. Downloads go
through torchvision and medmnist, which check the publishers' MD5 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fal.data.checksums import KNOWN_ARRAY_SHA256, KNOWN_RAW_MD5
from fal.data.datasets import SOURCES
from fal.io import atomic_path, write_json_atomic

CACHE_FORMAT_VERSION = 1
"""Layout of the cache files; a cache written under another version is refused with a rebuild hint."""

FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
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
# Readers of the publishers' formats


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


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    return None


def read_fmnist(directory: Path) -> DatasetArrays:
    """Read the four Fashion-MNIST IDX files from one directory."""
    directory = Path(directory)
    arrays = {}
    for name, stem in FMNIST_FILES.items():
        path = _find_idx(directory, stem)
        if path is None:
            raise FileNotFoundError(f"{directory}/{stem}[.gz] not found")
        arrays[name] = read_idx(path)
    return DatasetArrays(
        train_images=arrays["train_images"][:, None, :, :],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"][:, None, :, :],
        test_labels=arrays["test_labels"].astype(np.int64),
    )


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


def read_svhn(folder: Path) -> DatasetArrays:
    """Read SVHN's ``train_32x32.mat`` and ``test_32x32.mat`` (what torchvision downloads; the ``extra``
    split is not used). Images come as (32, 32, 3, N) and become NCHW; label 10 means digit 0, as in
    torchvision (reference-spec §1.2)."""
    from scipy.io import loadmat

    out = {}
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


def read_medmnist(npz_path: Path) -> DatasetArrays:
    """Read a MedMNIST ``<flag>.npz`` (28 px). Its ``val`` split is never used (§1.1)."""
    npz_path = Path(npz_path)
    if not npz_path.exists():
        raise FileNotFoundError(f"{npz_path} not found")
    with np.load(npz_path, allow_pickle=False) as npz:
        out = {}
        for split in ("train", "test"):
            images = np.asarray(npz[f"{split}_images"], dtype=np.uint8)
            if images.ndim == 3:
                images = images[:, None, :, :]
            elif images.ndim == 4:
                images = images.transpose(0, 3, 1, 2)
            else:
                raise DataIntegrityError(f"{npz_path}: {split}_images has shape {images.shape}")
            # MedMNIST labels come as shape (N, 1); flatten them (§1.1).
            out[f"{split}_images"] = np.ascontiguousarray(images)
            out[f"{split}_labels"] = np.asarray(npz[f"{split}_labels"]).reshape(-1).astype(np.int64)
    return DatasetArrays(**out)


# --------------------------------------------------------------------------------------------------
# Locating raw files, downloading them when allowed


def acquire_source(
    source: str, raw_dir: Path, fmnist_system_dir: Path | None = None, download: bool = True
) -> tuple[DatasetArrays, str]:
    """Return a source's arrays and a description of where they came from.

    Fashion-MNIST is read from Debian's ``dataset-fashion-mnist`` directory when present, else from
    ``raw_dir`` (downloaded by torchvision when ``download``). CIFAR and MedMNIST are read from
    ``raw_dir`` and downloaded by torchvision / medmnist when missing.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; known: {', '.join(SOURCES)}")
    raw_dir = Path(raw_dir)

    if source == "fmnist":
        if fmnist_system_dir is not None and _find_idx(Path(fmnist_system_dir), FMNIST_FILES["train_images"]):
            return read_fmnist(Path(fmnist_system_dir)), f"Debian dataset-fashion-mnist ({fmnist_system_dir})"
        folder = raw_dir / "FashionMNIST" / "raw"
        if not _find_idx(folder, FMNIST_FILES["train_images"]):
            _require_download(download, source, folder, "apt-get install dataset-fashion-mnist")
            from torchvision import datasets

            for train in (True, False):
                _run_download(lambda: datasets.FashionMNIST(str(raw_dir), train=train, download=True), source)
        return read_fmnist(folder), f"torchvision FashionMNIST ({folder})"

    if source in ("cifar10", "cifar100"):
        folder = raw_dir / ("cifar-10-batches-py" if source == "cifar10" else "cifar-100-python")
        if not folder.exists():
            _require_download(download, source, folder, "download it with torchvision on a machine with internet")
            from torchvision import datasets

            cls = datasets.CIFAR10 if source == "cifar10" else datasets.CIFAR100
            _run_download(lambda: cls(str(raw_dir), train=True, download=True), source)
        return read_cifar(raw_dir, source), f"torchvision {source} ({folder})"

    if source == "svhn":
        folder = raw_dir / "svhn"
        if not (folder / "train_32x32.mat").exists() or not (folder / "test_32x32.mat").exists():
            _require_download(download, source, folder, "download it with torchvision on a machine with internet")
            from torchvision import datasets

            for split in ("train", "test"):
                _run_download(lambda split=split: datasets.SVHN(str(folder), split=split, download=True), source)
        return read_svhn(folder), f"torchvision SVHN ({folder})"

    # MedMNIST
    folder = raw_dir / "medmnist"
    npz_path = folder / f"{source}.npz"
    if not npz_path.exists():
        _require_download(download, source, npz_path, "download it with medmnist on a machine with internet")
        import medmnist

        folder.mkdir(parents=True, exist_ok=True)
        cls = getattr(medmnist, medmnist.INFO[source]["python_class"])
        _run_download(lambda: cls(split="test", download=True, root=str(folder)), source)
    return read_medmnist(npz_path), f"medmnist {source} ({npz_path})"


def _require_download(download: bool, source: str, path: Path, hint: str) -> None:
    if not download:
        raise FileNotFoundError(
            f"{source}: raw files not found at {path} and downloads are disabled "
            f"(data.download: false). Put the files there or {hint}."
        )


def _run_download(fn, source: str) -> None:
    try:
        fn()
    except Exception as exc:  # network errors come in many types; say what to do
        raise RuntimeError(
            f"downloading {source} failed ({type(exc).__name__}: {exc}). Check the network, or place "
            f"the publisher's files in the raw data directory by hand and rerun."
        ) from exc


# --------------------------------------------------------------------------------------------------
# The verified cache


def file_md5(path: Path) -> str:
    h = hashlib.md5()  # the publishers publish MD5s
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_known_checksums(source: str, arrays: DatasetArrays, origin: str, raw_dir: Path | None = None) -> None:
    """Fail when the data differ from the publisher's release: the converted arrays where their SHA-256
    is known (fal/data/checksums.py), else every raw file under ``raw_dir`` with a published MD5."""
    for name, expected in KNOWN_ARRAY_SHA256.get(source, {}).items():
        actual = array_sha256(getattr(arrays, name))
        if actual != expected:
            raise DataIntegrityError(
                f"{source} {name} read from {origin} has SHA-256 {actual}, expected {expected}: the raw "
                f"files are corrupt or not the official release. Delete them and download again."
            )
    if source in KNOWN_ARRAY_SHA256 or raw_dir is None:
        return
    for rel, expected in KNOWN_RAW_MD5.get(source, {}).items():
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
            raise DataIntegrityError(
                f"{path} is missing. Rebuild the cache with `snakemake --cores 1 {cache_path}`."
            )
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
