"""Test helpers shared by several test modules."""

from __future__ import annotations

import numpy as np


def synthetic_arrays(num_classes: int = 4, per_class: int = 60, test_per_class: int = 20, channels: int = 1, size: int = 28, seed: int = 0):
    """Class-dependent uint8 images that a small CNN can learn: class c brightens band c."""
    from fal.data.sources import DatasetArrays

    rng = np.random.default_rng(seed)

    def make(n_per_class):
        labels = np.repeat(np.arange(num_classes), n_per_class)
        images = rng.integers(0, 60, size=(len(labels), channels, size, size), dtype=np.uint8)
        band = size // num_classes
        for i, c in enumerate(labels):
            images[i, :, c * band : (c + 1) * band, :] += 150
        order = rng.permutation(len(labels))
        return images[order], labels[order].astype(np.int64)

    train_images, train_labels = make(per_class)
    test_images, test_labels = make(test_per_class)
    return DatasetArrays(train_images, train_labels, test_images, test_labels)


# ---------------------------------------------------------------------------------------------
# Running the workflow from tests

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
COPIED = ["Snakefile", "config.yaml", "workflow", "fal", "envs"]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake (no workflow profile, 2 cores) in ``workdir``; raise with its output on failure."""
    cmd = [str(SNAKEMAKE), "--workflow-profile", "none", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def copy_project(destination: Path, config: dict) -> Path:
    """A runnable copy of the project with its own config.yaml."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, destination / name)
    (destination / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return destination


def base_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())
