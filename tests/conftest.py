"""Shared fixtures: the real Fashion-MNIST arrays, a tiny synthetic setting, the project root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

FMNIST_SYSTEM_DIR = Path(os.environ.get("FAL_FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))


@pytest.fixture(scope="session")
def fmnist_arrays():
    """Real Fashion-MNIST from Debian's dataset-fashion-mnist (`make test` installs it)."""
    from fal.data.sources.fmnist import read_fmnist

    if not (FMNIST_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(
            f"Fashion-MNIST not found in {FMNIST_SYSTEM_DIR}: run `make test`, or apt-get install dataset-fashion-mnist"
        )
    return read_fmnist(FMNIST_SYSTEM_DIR)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory, fmnist_arrays):
    """A Fashion-MNIST cache folder shared by the workflow tests (its first user's prepare_dataset fills it)."""
    return tmp_path_factory.mktemp("cache")
