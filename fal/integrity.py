"""Every result file carries a content digest that its readers verify, and the digests of what it was
computed from.

When a workflow job succeeds, each of its outputs gets a sidecar ``<file>.digest.json``: the file's
SHA-256, the rule that wrote it and the digest of every input it read (its lineage). A job checks its
inputs against their sidecars before it starts, so a truncated or edited result fails in one line that
names the file, the rule that writes it and the command that rebuilds exactly it, instead of a torch or
Parquet error naming nothing.

The workflow's planning side reads these records before a run (``fal.plan.damage``): it names every
result whose content no longer matches its digest or whose recorded inputs changed, and has them rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SIDECAR_SUFFIX = ".digest.json"


class DamagedResultError(RuntimeError):
    """A result file does not match the digest recorded when it was written."""


def sidecar_of(path: str | Path) -> Path:
    return Path(f"{path}{SIDECAR_SUFFIX}")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        return None
    try:
        return json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError):
        return {"sha256": "unreadable sidecar"}


def rebuild_hint(path: str | Path) -> str:
    """The command that rebuilds exactly ``path`` (and nothing after it)."""
    return f"`snakemake --cores 1 {path}` (the next run moves it aside first)"


def damage_message(path: str | Path, record: dict[str, Any] | None, actual: str | None) -> str:
    rule = (record or {}).get("rule", "?")
    if actual is None:
        what = "is missing"
    elif record is None:
        what = "has no content digest (it was not written by a workflow job)"
    else:
        what = f"does not match the digest recorded when rule {rule} wrote it (truncated or edited)"
    return f"{path} {what}; rebuild exactly it with {rebuild_hint(path)}"


def verify(path: str | Path) -> str:
    """``path``'s SHA-256 after checking it against its sidecar; DamagedResultError otherwise."""
    record = read_sidecar(path)
    actual = file_sha256(path) if Path(path).is_file() else None
    if record is None or actual is None or record.get("sha256") != actual:
        raise DamagedResultError(damage_message(path, record, actual))
    return actual


def _flat(paths: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for item in paths:
        if isinstance(item, (list, tuple)):
            out.extend(_flat(item))
        else:
            out.append(str(item))
    return out


def within(path: str, roots: Sequence[str | Path]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def verify_inputs(inputs: Iterable[Any], managed: Sequence[str | Path], skip: Sequence[str | Path] = ()) -> None:
    """Check every input under a ``managed`` folder (written by workflow jobs) against its digest; inputs
    under ``skip`` are checked by their own readers (the data cache)."""
    for path in _flat(inputs):
        if within(path, managed) and not within(path, skip):
            verify(path)


def input_digest(path: str) -> str:
    """An input's digest: the one its sidecar records (verified when the job started), else its content's."""
    record = read_sidecar(path)
    return str(record["sha256"]) if record and "sha256" in record else file_sha256(path)


def seal(outputs: Iterable[Any], inputs: Iterable[Any], rule: str) -> None:
    """Write each output's sidecar: its digest, ``rule``, the digests of ``inputs`` (its lineage) and the
    job's other outputs."""
    lineage = {path: input_digest(path) for path in _flat(inputs) if Path(path).is_file()}
    written = sorted(path for path in _flat(outputs) if Path(path).is_file())
    for path in written:
        record = {"sha256": file_sha256(path), "rule": rule, "inputs": lineage, "outputs": written}
        sidecar = sidecar_of(path)
        tmp = sidecar.with_name(sidecar.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, sidecar)


def annotate(path: str | Path, **fields: Any) -> None:
    """Add ``fields`` to ``path``'s sidecar (the planning side records which code built the data cache)."""
    record = read_sidecar(path)
    if record is None:
        raise DamagedResultError(damage_message(path, None, file_sha256(path) if Path(path).is_file() else None))
    record.update(fields)
    sidecar = sidecar_of(path)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, sidecar)


def unseal(outputs: Iterable[Any]) -> None:
    """Drop the sidecars of outputs a job is about to rewrite (a job that fails leaves none behind)."""
    for path in _flat(outputs):
        sidecar_of(path).unlink(missing_ok=True)
