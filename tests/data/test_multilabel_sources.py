"""Multi-label data for KAFAL's Table 4, on fixture files in the publishers' formats: ChestMNIST's
medmnist NPZ (multi-hot (N, 14) labels) and NIH ChestX-ray14's folder (Data_Entry_2017.csv, the split
lists, PNG images)."""

import numpy as np
import pytest
from PIL import Image

from fal.data.cache import DataIntegrityError
from fal.data.sources.medmnist import read_medmnist
from fal.data.sources.nih_chestxray14 import NIH_LABELS, read_findings, read_nih_chestxray14
from fal.plan.catalog import SOURCES


def test_chestmnist_keeps_its_multi_hot_labels(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (5, 14), dtype=np.uint8)
    np.savez(tmp_path / "chestmnist.npz", **arrays)
    out = read_medmnist(tmp_path / "chestmnist.npz")
    assert out.train_images.shape == (5, 1, 28, 28)
    assert out.train_labels.shape == (5, 14) and out.train_labels.dtype == np.int64
    assert np.array_equal(out.test_labels, arrays["test_labels"])
    arrays["train_labels"] = arrays["train_labels"][:4]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataIntegrityError, match="train_labels has shape"):
        read_medmnist(tmp_path / "bad.npz")


# name, findings, split; the PNGs are 40 px, a uniform grey per image (its index × 20)
ENTRIES = [
    ("00000001_000.png", "Cardiomegaly", "train"),
    ("00000001_001.png", "Cardiomegaly|Emphysema", "train"),
    ("00000002_000.png", "No Finding", "train"),
    ("00000003_000.png", "Hernia|Effusion|Atelectasis", "train"),
    ("00000004_000.png", "Pleural_Thickening", "test"),
    ("00000005_000.png", "No Finding", "test"),
    ("00000006_000.png", "Mass|Nodule", "test"),
]


def write_nih_folder(folder, entries=ENTRIES, skip_image=None):
    """A miniature of the NIH release: its CSV header (with the unquoted commas), both lists, and
    PNGs under images_001/images/ (one stored as RGBA, as some of the NIH's are)."""
    lines = [
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
    ]
    images = folder / "images_001" / "images"
    images.mkdir(parents=True)
    for k, (name, findings, _split) in enumerate(entries):
        lines.append(f"{name},{findings},0,{k},58,M,PA,2682,2749,0.143,0.143,")
        if name != skip_image:
            grey = np.full((40, 40), 20 * k, dtype=np.uint8)
            image = Image.fromarray(grey).convert("RGBA") if k == 1 else Image.fromarray(grey)
            image.save(images / name)
    (folder / "Data_Entry_2017.csv").write_text("\n".join(lines) + "\n")
    for split, list_name in (("train", "train_val_list.txt"), ("test", "test_list.txt")):
        (folder / list_name).write_text("".join(f"{n}\n" for n, _f, s in entries if s == split))


def test_nih_folder_gives_the_split_without_no_finding(tmp_path):
    write_nih_folder(tmp_path)
    out = read_nih_chestxray14(tmp_path, image_size=16, expected_sizes={"train": 3, "test": 2})
    assert out.train_images.shape == (3, 1, 16, 16) and out.test_images.shape == (2, 1, 16, 16)
    assert out.train_images.dtype == np.uint8
    # uniform grey stays that grey through the resize; the RGBA image is read as grey too
    assert [int(out.train_images[i].min()) for i in range(3)] == [0, 20, 60]
    assert [int(out.train_images[i].max()) for i in range(3)] == [0, 20, 60]
    hot = dict(zip(NIH_LABELS, out.train_labels[2]))
    assert {k for k, v in hot.items() if v} == {"Hernia", "Effusion", "Atelectasis"}
    assert out.train_labels.tolist()[:2] == [
        [0, 1] + [0] * 12,
        [0, 1] + [0] * 8 + [1] + [0] * 3,  # Emphysema is the 11th label
    ]
    assert out.test_labels[0, NIH_LABELS.index("Pleural_Thickening")] == 1 and out.test_labels[1].sum() == 2
    assert read_findings(tmp_path).loc["00000002_000.png"].sum() == 0  # No Finding: all zeros


def test_nih_folder_errors_name_what_is_wrong(tmp_path):
    write_nih_folder(tmp_path)
    with pytest.raises(DataIntegrityError, match="3 train images with a finding, the official split has 36024"):
        read_nih_chestxray14(tmp_path, image_size=16)
    missing = tmp_path / "missing"
    write_nih_folder(missing, skip_image="00000006_000.png")
    with pytest.raises(
        DataIntegrityError, match=r"1 test images are listed but not on disk, e.g. \['00000006_000.png'\]"
    ):
        read_nih_chestxray14(missing, image_size=16, expected_sizes=None)
    other = tmp_path / "other"
    write_nih_folder(other, entries=[*ENTRIES, ("00000007_000.png", "Pneumonia|Covid", "test")])
    with pytest.raises(DataIntegrityError, match=r"unknown finding labels \['Covid'\]"):
        read_nih_chestxray14(other, expected_sizes=None)
    with pytest.raises(FileNotFoundError, match="nihcc.app.box.com"):
        read_nih_chestxray14(tmp_path / "nowhere")


def test_each_image_is_partitioned_by_its_rarest_or_first_label():
    from fal.data.build import multilabel_partition_labels

    targets = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1]])
    frequency = np.array([5, 9, 2])  # label 2 is the rarest, then 0
    assert multilabel_partition_labels(targets, frequency, "rarest").tolist() == [0, 2, 3, 2]
    assert multilabel_partition_labels(targets, frequency, "first").tolist() == [0, 1, 3, 0]
    ties = np.array([4, 4, 9])
    assert multilabel_partition_labels(targets, ties, "rarest").tolist() == [0, 1, 3, 0]  # ties: lower index


def test_nih_source_is_found_read_and_cached_through_the_catalog(tmp_path, monkeypatch):
    """As prepare_dataset does: acquire_source finds <raw>/nih_chestxray14, reads it with the declared
    split sizes (the fixture's, patched in), and the cache keeps the multi-hot labels; downloading is
    refused with the manual steps."""
    import dataclasses

    from fal.data.cache import load_cache, verify_known_checksums, write_cache
    from fal.data.sources import acquire_source

    write_nih_folder(tmp_path / "raw" / "nih_chestxray14")
    spec = dataclasses.replace(SOURCES["nih_chestxray14"], sizes=(3, 2))
    arrays, origin = acquire_source(spec, tmp_path / "raw", download=False)
    assert "NIH ChestX-ray14" in origin and arrays.train_images.shape == (3, 1, 224, 224)
    verify_known_checksums(spec, arrays, origin, tmp_path / "raw")  # nothing published to check
    write_cache(arrays, tmp_path / "c.npz", tmp_path / "c.json", "nih_chestxray14")
    cached = load_cache(tmp_path / "c.npz", tmp_path / "c.json")
    assert np.array_equal(cached.test_labels, arrays.test_labels) and cached.test_labels.shape == (2, 14)
    with pytest.raises(RuntimeError, match="nihcc.app.box.com"):
        acquire_source(SOURCES["nih_chestxray14"], tmp_path / "empty", download=True)


def test_chestmnist_is_checked_against_medmnists_md5(tmp_path):
    """The real ChestMNIST source reads medmnist's chestmnist.npz and refuses a file that is not the
    publisher's (a fixture here)."""
    from fal.data.cache import verify_known_checksums
    from fal.data.sources import acquire_source

    rng = np.random.default_rng(4)
    folder = tmp_path / "medmnist"
    folder.mkdir()
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (4, 14), dtype=np.uint8)
    np.savez(folder / "chestmnist.npz", **arrays)
    data, origin = acquire_source(SOURCES["chestmnist"], tmp_path, download=False)
    assert data.train_labels.shape == (4, 14)
    with pytest.raises(DataIntegrityError, match="02c8a6516a18b556561a56cbdd36c4a8"):
        verify_known_checksums(SOURCES["chestmnist"], data, origin, tmp_path)
