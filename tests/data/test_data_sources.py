"""Dataset readers on fixture files written in the publishers' real formats, and the verified cache."""

import gzip
import json
import pickle

import numpy as np
import pytest

from fal.data.cache import (
    DataIntegrityError,
    DatasetArrays,
    array_sha256,
    load_cache,
    verify_known_checksums,
    write_cache,
)
from fal.data.sources import acquire_source
from fal.data.sources.cifar import read_cifar
from fal.data.sources.fmnist import read_fmnist, read_idx
from fal.data.sources.medmnist import read_medmnist
from fal.plan.catalog import SOURCES


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_read_fmnist_idx_fixture(tmp_path, compress):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 12),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5),
    }
    for stem, array in arrays.items():
        write_idx(tmp_path / (stem + (".gz" if compress else "")), array, compress)
    out = read_fmnist(tmp_path)
    assert out.train_images.shape == (12, 1, 28, 28) and out.train_images.dtype == np.uint8
    assert np.array_equal(out.train_images[:, 0], arrays["train-images-idx3-ubyte"])
    assert out.test_labels.dtype == np.int64
    assert np.array_equal(out.test_labels, arrays["t10k-labels-idx1-ubyte"])


def test_truncated_idx_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((3, 28, 28)), compress=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataIntegrityError, match="truncated"):
        read_idx(path)


def write_cifar_fixture(root, source: str, n_train: int = 10, n_test: int = 4):
    """torchvision's extracted layout: pickled dicts with b'data' (N, 3072) and label lists."""
    rng = np.random.default_rng(1)
    if source == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        files = {f"data_batch_{i}": n_train for i in range(1, 6)}
        files["test_batch"] = n_test
        key, classes = b"labels", 10
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        files = {"train": n_train * 5, "test": n_test}
        key, classes = b"fine_labels", 100
    written = {}
    for name, n in files.items():
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, classes, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, key: labels, b"batch_label": name.encode()}, f)
        written[name] = (data, labels)
    return written


@pytest.mark.parametrize("source", ["cifar10", "cifar100"])
def test_read_cifar_fixture(tmp_path, source):
    written = write_cifar_fixture(tmp_path, source)
    out = read_cifar(tmp_path, source)
    assert out.train_images.shape == (50, 3, 32, 32)
    assert out.test_images.shape == (4, 3, 32, 32)
    first = "data_batch_1" if source == "cifar10" else "train"
    data, labels = written[first]
    assert np.array_equal(out.train_images[0].reshape(-1), data[0])  # CIFAR rows are R, G, B planes
    assert out.train_labels[: len(labels)].tolist() == labels


@pytest.mark.parametrize("flag, channels", [("octmnist", 1), ("dermamnist", 3), ("pathmnist", 3)])
def test_read_medmnist_fixture(tmp_path, flag, channels):
    rng = np.random.default_rng(2)
    shape = (6, 28, 28) if channels == 1 else (6, 28, 28, 3)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 4, (6, 1))
    folder = tmp_path / "medmnist"
    folder.mkdir()
    np.savez(folder / f"{flag}.npz", **arrays)
    out = read_medmnist(folder / f"{flag}.npz")
    assert out.train_images.shape == (6, channels, 28, 28)
    assert out.train_labels.shape == (6,)  # MedMNIST's (N, 1) labels are flattened
    if channels == 3:
        assert np.array_equal(out.test_images[2, 1], arrays["test_images"][2, :, :, 1])
    # acquire_source finds the file in <raw>/medmnist/ without downloading
    acquired, origin = acquire_source(SOURCES[flag], tmp_path, download=False)
    assert np.array_equal(acquired.train_images, out.train_images) and flag in origin


def test_missing_raw_files_with_downloads_disabled(tmp_path):
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        acquire_source(SOURCES["cifar10"], tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        acquire_source(SOURCES["fmnist"], tmp_path, {"fmnist_system": tmp_path / "none"}, download=False)


def small_arrays():
    rng = np.random.default_rng(3)
    return DatasetArrays(
        rng.integers(0, 256, (8, 1, 28, 28), dtype=np.uint8),
        np.arange(8) % 2,
        rng.integers(0, 256, (4, 1, 28, 28), dtype=np.uint8),
        np.arange(4) % 2,
    )


def test_cache_round_trip_and_checksums(tmp_path):
    arrays = small_arrays()
    meta = write_cache(arrays, tmp_path / "x.npz", tmp_path / "x.json", "fmnist")
    assert meta["arrays"]["train_images"]["sha256"] == array_sha256(arrays.train_images)
    loaded = load_cache(tmp_path / "x.npz", tmp_path / "x.json")
    for name, array in arrays.as_dict().items():
        assert np.array_equal(getattr(loaded, name), array)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporaries


def test_corrupt_cache_fails_with_path_checksum_and_fix(tmp_path):
    write_cache(small_arrays(), tmp_path / "x.npz", tmp_path / "x.json", "fmnist")
    blob = bytearray((tmp_path / "x.npz").read_bytes())
    blob[-100] ^= 0xFF
    (tmp_path / "x.npz").write_bytes(bytes(blob))
    expected = json.loads((tmp_path / "x.json").read_text())["file_sha256"]
    with pytest.raises(DataIntegrityError) as info:
        load_cache(tmp_path / "x.npz", tmp_path / "x.json")
    message = str(info.value)
    assert str(tmp_path / "x.npz") in message and expected in message and "rebuild" in message


def test_missing_cache_says_how_to_rebuild(tmp_path):
    with pytest.raises(DataIntegrityError, match="snakemake --cores 1"):
        load_cache(tmp_path / "nope.npz", tmp_path / "nope.json")


def test_known_checksum_rejects_wrong_fmnist(tmp_path):
    with pytest.raises(DataIntegrityError, match="not the official release"):
        verify_known_checksums(SOURCES["fmnist"], small_arrays(), "fixture")


def test_real_fmnist_matches_known_checksums(fmnist_arrays):
    verify_known_checksums(SOURCES["fmnist"], fmnist_arrays, "Debian")
    assert fmnist_arrays.train_images.shape == (60000, 1, 28, 28)
    assert np.bincount(fmnist_arrays.train_labels).tolist() == [6000] * 10


def test_missing_cifar_is_downloaded_through_torchvision(tmp_path, monkeypatch):
    """Users download with torchvision; here a stand-in writes the real on-disk format instead."""
    import torchvision.datasets

    calls = []

    class FakeCIFAR10:
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            write_cifar_fixture(tmp_path, "cifar10")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    arrays, origin = acquire_source(SOURCES["cifar10"], tmp_path, download=True)
    assert calls == [(str(tmp_path), True, True)] and arrays.train_images.shape == (50, 3, 32, 32)


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    import medmnist

    class Offline:
        def __init__(self, *args, **kwargs):
            raise OSError("Name or service not known")

    monkeypatch.setattr(medmnist, "OCTMNIST", Offline)
    with pytest.raises(RuntimeError, match="downloading octmnist failed .*place the publisher's files"):
        acquire_source(SOURCES["octmnist"], tmp_path, download=True)


def test_every_source_has_known_checksums():
    """Each source's identity (a rule param) is its declared checksums, never where it is read from."""
    from fal.plan.catalog import SOURCES

    for source in SOURCES.values():
        identity = source.checksums
        if source.no_checksums:  # NIH ChestX-ray14: no published checksums; its split sizes are checked
            assert identity == {"sizes": {"train": source.sizes[0], "test": source.sizes[1]}}, source.name
            continue
        assert identity.get("array_sha256") or identity.get("raw_md5"), source.name


@pytest.mark.parametrize("source", ["cifar10", "cifar100"])
def test_raw_files_are_checked_against_the_publishers_md5(tmp_path, source, monkeypatch):
    import dataclasses
    import hashlib

    write_cifar_fixture(tmp_path, source)
    arrays = read_cifar(tmp_path, source)
    with pytest.raises(DataIntegrityError) as info:
        verify_known_checksums(SOURCES[source], arrays, "fixture", tmp_path)
    message = str(info.value)
    first = next(iter(SOURCES[source].raw_md5))
    assert str(tmp_path / first) in message and "publisher's" in message and "download it again" in message
    # files whose MD5s are the declared ones pass
    spec = SOURCES[source]
    actual = {rel: hashlib.md5((tmp_path / rel).read_bytes()).hexdigest() for rel in spec.raw_md5}
    verify_known_checksums(dataclasses.replace(spec, raw_md5=actual), arrays, "fixture", tmp_path)


def test_cache_file_is_deterministic(tmp_path):
    """A rebuilt cache has the same bytes (np.savez would stamp the time), so a rebuild reruns nothing."""
    import time

    write_cache(small_arrays(), tmp_path / "a.npz", tmp_path / "a.json", "fmnist")
    time.sleep(2.1)  # the zip format's timestamps have a 2-second resolution
    write_cache(small_arrays(), tmp_path / "b.npz", tmp_path / "b.json", "fmnist")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    meta_a = json.loads((tmp_path / "a.json").read_text())
    meta_b = json.loads((tmp_path / "b.json").read_text())
    assert meta_a == {**meta_b, "file": "a.npz"} and "origin" not in meta_a


def write_svhn_fixture(folder, n_train: int = 12, n_test: int = 5):
    """SVHN's real on-disk format: MATLAB files with X (32, 32, 3, N) uint8 and y (N, 1), 10 meaning digit 0."""
    from scipy.io import savemat

    rng = np.random.default_rng(4)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        savemat(str(folder / f"{split}_32x32.mat"), {"X": x, "y": y})
        written[split] = (x, y)
    return written


def test_read_svhn_fixture(tmp_path):
    from fal.data.sources.svhn import read_svhn

    written = write_svhn_fixture(tmp_path / "svhn")
    out = read_svhn(tmp_path / "svhn")
    x, y = written["train"]
    assert out.train_images.shape == (12, 3, 32, 32) and out.test_images.shape == (5, 3, 32, 32)
    assert np.array_equal(out.train_images[3, 1], x[:, :, 1, 3])  # (H, W, C, N) → NCHW
    expected = y.reshape(-1).astype(np.int64)
    expected[expected == 10] = 0
    assert np.array_equal(out.train_labels, expected) and out.train_labels.max() <= 9
    acquired, origin = acquire_source(SOURCES["svhn"], tmp_path, download=False)
    assert np.array_equal(acquired.test_images, out.test_images) and "SVHN" in origin


def test_missing_svhn_is_downloaded_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeSVHN:
        def __init__(self, root, split="train", download=False):
            calls.append((split, download))
            write_svhn_fixture(tmp_path / "svhn")

    monkeypatch.setattr(torchvision.datasets, "SVHN", FakeSVHN)
    arrays, _ = acquire_source(SOURCES["svhn"], tmp_path, download=True)
    assert [c[0] for c in calls] == ["train", "test"] and arrays.train_images.shape == (12, 3, 32, 32)
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        acquire_source(SOURCES["svhn"], tmp_path / "empty", download=False)


def write_mnist_fixture(raw_dir, n_train: int = 12, n_test: int = 5):
    """What torchvision leaves in ``<raw>/MNIST/raw``: the four gzipped IDX files (and their decompressed copies)."""
    rng = np.random.default_rng(7)
    folder = raw_dir / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, array in arrays.items():
        write_idx(folder / f"{stem}.gz", array, compress=True)
        write_idx(folder / stem, array, compress=False)
    return arrays


def test_mnist_is_read_from_torchvisions_folder_and_checked_against_its_md5s(tmp_path, monkeypatch):
    import dataclasses
    import hashlib

    written = write_mnist_fixture(tmp_path)
    arrays, origin = acquire_source(SOURCES["mnist"], tmp_path, download=False)
    assert "torchvision MNIST" in origin and arrays.train_images.shape == (12, 1, 28, 28)
    assert np.array_equal(arrays.test_labels, written["t10k-labels-idx1-ubyte"])
    with pytest.raises(DataIntegrityError, match="MNIST/raw/train-images-idx3-ubyte.gz has MD5"):
        verify_known_checksums(SOURCES["mnist"], arrays, "fixture", tmp_path)
    spec = SOURCES["mnist"]
    actual = {rel: hashlib.md5((tmp_path / rel).read_bytes()).hexdigest() for rel in spec.raw_md5}
    verify_known_checksums(dataclasses.replace(spec, raw_md5=actual), arrays, "fixture", tmp_path)


def test_missing_mnist_is_downloaded_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            write_mnist_fixture(tmp_path)

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    arrays, _ = acquire_source(SOURCES["mnist"], tmp_path, download=True)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    assert arrays.train_images.shape == (12, 1, 28, 28)
