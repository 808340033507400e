"""File input/output: every write is atomic (temporary file in the same folder, then rename).

A reader therefore never sees a half-written output, and a killed job leaves either the old file or
none. Tables are Parquet, arrays NPZ, small state JSON, model weights ``torch.save`` of state dicts.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class SchemaError(ValueError):
    """A table does not have the columns or types its reader expects."""


def _file_mode() -> int:
    """Mode a plain ``open(..., "w")`` would give (mkstemp makes 0600 files, unreadable to collaborators)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike,
    schema: pa.Schema | None = None,
    metadata: dict[bytes, bytes] | None = None,
) -> None:
    """Write a DataFrame as Parquet, cast to ``schema`` when given (columns in schema order), with
    ``metadata`` added to the schema's (e.g. fal.provenance's fingerprints)."""
    if schema is not None:
        missing = [name for name in schema.names if name not in df.columns]
        if missing:
            raise SchemaError(f"cannot write {path}: missing columns {missing}")
        table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    else:
        table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet(path: str | os.PathLike, schema: pa.Schema | None = None) -> pd.DataFrame:
    """Read Parquet; with ``schema``, reject files whose columns or types differ."""
    table = pq.read_table(path)
    if schema is not None:
        check_schema(table.schema, schema, str(path))
    return table.to_pandas()


def check_schema(actual: pa.Schema, expected: pa.Schema, what: str) -> None:
    problems = []
    for field in expected:
        if field.name not in actual.names:
            problems.append(f"missing column {field.name!r} ({field.type})")
        elif not actual.field(field.name).type.equals(field.type):
            problems.append(f"column {field.name!r} has type {actual.field(field.name).type}, expected {field.type}")
    extra = [name for name in actual.names if name not in expected.names]
    if extra:
        problems.append(f"unexpected columns {extra}")
    if problems:
        raise SchemaError(f"{what} does not match the expected schema: " + "; ".join(problems))


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through an open file, atomically: given a path, torch names the archive's inner
    folder after the (random) temporary file, so identical tensors would give different bytes."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def save_state_dict(state_dict: dict, path: str | os.PathLike) -> None:
    torch_save({k: v.detach().cpu() for k, v in state_dict.items()}, path)


def load_state_dict(path: str | os.PathLike) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def fingerprint(values: Any, files: Sequence[str | os.PathLike] = ()) -> str:
    """SHA-256 of JSON-serialisable ``values`` and the bytes of ``files``: identifies a job's inputs."""
    import hashlib

    h = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    for path in files:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def save_client_states(states: dict, path: str | os.PathLike) -> None:
    """Per-client state dicts ({client: state dict}) in one ``torch.save`` file, keys as ints."""
    blob = {int(k): {n: v.detach().cpu() for n, v in state.items()} for k, state in states.items()}
    torch_save(blob, path)


def load_client_states(path: str | os.PathLike) -> dict:
    import torch

    return {int(k): v for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
