"""Where each dataset source's raw files come from: one module per publisher's format.

Each module declares its sources (``SOURCES``) and dataset keys (``DATASETS``), which the planning
side reads without importing it (``fal.plan.catalog``), beside its entry point ``FILES =
SourceFiles(locate, download, read)``, three functions that take the source's ``SourceSpec``:

- ``locate(source, raw_dir, paths) -> (folder, origin) | None``: where the publisher's files already are
  (``paths`` is the config's ``paths`` block, e.g. Debian's Fashion-MNIST folder);
- ``download(source, raw_dir)``: fetch them into ``raw_dir`` (through torchvision or medmnist, which
  check the publishers' MD5 sums);
- ``read(source, folder) -> DatasetArrays``: the arrays (uint8 NCHW images, int64 labels).

``acquire_source`` runs them for any source (a prepare job gets the source's declaration in its params),
so nothing here names a dataset. Adding one: CONTRIBUTING.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, cast

from fal.config.datasets import SourceSpec
from fal.data.cache import DataIntegrityError, DatasetArrays, verify_known_checksums, write_cache
from fal.registry import load_entry


class SourceFiles(NamedTuple):
    """A dataset module's entry point (``FILES``): how to find, download and read its publisher's files."""

    locate: Callable[[SourceSpec, Path, dict], tuple[Path, str] | None]
    download: Callable[[SourceSpec, Path], None]
    read: Callable[[SourceSpec, Path], DatasetArrays]


def source_files(spec: SourceSpec) -> SourceFiles:
    """The functions of the module that declares ``spec`` (imported only now)."""
    return cast(SourceFiles, load_entry(spec.entry_point))


def acquire_source(
    spec: SourceSpec, raw_dir: Path, paths: Mapping[str, Any] | None = None, download: bool = True
) -> tuple[DatasetArrays, str]:
    """A source's arrays and a description of where they came from: the publisher's files where
    ``locate`` finds them, else downloaded into ``raw_dir`` when ``download`` allows it."""
    files = source_files(spec)
    source = spec.name
    raw_dir = Path(raw_dir)
    found = files.locate(spec, raw_dir, dict(paths or {}))
    if found is None:
        if not download:
            raise FileNotFoundError(
                f"{source}: raw files not found under {raw_dir} and downloads are disabled "
                f"(data.download: false). Put the files there or {spec.offline_hint}."
            )
        _run_download(lambda: files.download(spec, raw_dir), source)
        found = files.locate(spec, raw_dir, {})
        if found is None:
            raise DataIntegrityError(f"{source}: the download finished but its files are not under {raw_dir}")
    folder, origin = found
    return files.read(spec, folder), origin


def prepare_cache(
    spec: SourceSpec, raw_dir: Path, paths: Mapping[str, Any], download: bool, npz: Path, meta: Path
) -> tuple[dict, DatasetArrays, str]:
    """Build ``spec``'s verified array cache (``npz`` and its ``meta`` sidecar): its arrays from the
    publisher's files (``acquire_source``), checked against the declared checksums (where the files are
    is not part of the data's identity; the checksums are). Returns (meta, arrays, where they came from)."""
    arrays, origin = acquire_source(spec, raw_dir=raw_dir, paths=paths, download=download)
    verify_known_checksums(spec, arrays, origin, raw_dir)
    return write_cache(arrays, npz, meta, spec.name), arrays, origin


def _run_download(fn: Callable[[], None], source: str) -> None:
    try:
        fn()
    except Exception as exc:  # network errors come in many types; say what to do
        raise RuntimeError(
            f"downloading {source} failed ({type(exc).__name__}: {exc}). Check the network, or place "
            f"the publisher's files in the raw data directory by hand and rerun."
        ) from exc


__all__ = ["SourceFiles", "SourceSpec", "acquire_source", "prepare_cache", "source_files"]
