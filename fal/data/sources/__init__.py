"""Where each dataset source's raw files come from: one module per publisher's format.

Each module declares its sources (``SOURCES``) and dataset keys (``DATASETS``), which
``fal.config.datasets`` reads without importing it, beside three functions that take the source's
``SourceSpec``:

- ``locate(source, raw_dir, paths) -> (folder, origin) | None``: where the publisher's files already are
  (``paths`` is the config's ``paths`` block, e.g. Debian's Fashion-MNIST folder);
- ``download(source, raw_dir)``: fetch them into ``raw_dir`` (through torchvision or medmnist, which
  check the publishers' MD5 sums);
- ``read(source, folder) -> DatasetArrays``: the arrays (uint8 NCHW images, int64 labels).

``acquire_source`` runs them for any source, so nothing here names a dataset. Adding one: CONTRIBUTING.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fal.config.datasets import SOURCES, SourceSpec
from fal.data.cache import DataIntegrityError, DatasetArrays


def source_module(source: str) -> Any:
    """The module that handles ``source``'s files."""
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; known: {', '.join(sorted(SOURCES))}")
    return importlib.import_module(SOURCES[source].module)


def acquire_source(
    source: str, raw_dir: Path, paths: Mapping[str, Any] | None = None, download: bool = True
) -> tuple[DatasetArrays, str]:
    """A source's arrays and a description of where they came from: the publisher's files where
    ``locate`` finds them, else downloaded into ``raw_dir`` when ``download`` allows it."""
    module = source_module(source)
    spec = SOURCES[source]
    raw_dir = Path(raw_dir)
    found = module.locate(spec, raw_dir, dict(paths or {}))
    if found is None:
        if not download:
            raise FileNotFoundError(
                f"{source}: raw files not found under {raw_dir} and downloads are disabled "
                f"(data.download: false). Put the files there or {spec.offline_hint}."
            )
        _run_download(lambda: module.download(spec, raw_dir), source)
        found = module.locate(spec, raw_dir, {})
        if found is None:
            raise DataIntegrityError(f"{source}: the download finished but its files are not under {raw_dir}")
    folder, origin = found
    return module.read(spec, folder), origin


def _run_download(fn: Callable[[], None], source: str) -> None:
    try:
        fn()
    except Exception as exc:  # network errors come in many types; say what to do
        raise RuntimeError(
            f"downloading {source} failed ({type(exc).__name__}: {exc}). Check the network, or place "
            f"the publisher's files in the raw data directory by hand and rerun."
        ) from exc


__all__ = ["SourceSpec", "acquire_source", "source_module"]
