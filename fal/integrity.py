"""Every result file carries a content digest that its readers verify, and the digests of what it was
computed from.

When a workflow job succeeds, each of its outputs gets a sidecar ``<file>.digest.json``: the file's
SHA-256, the rule that wrote it and the digest of every input it read (its lineage). A job checks its
inputs against their sidecars before it starts, so a truncated or edited result fails in one line that
names the file, the rule that writes it and the command that rebuilds exactly it, instead of a torch or
Parquet error naming nothing.

Before a run schedules anything, ``quarantine_damaged`` (called by the Snakefile in Snakemake's main
process) moves aside every result whose content no longer matches its digest, and every result whose
recorded inputs are gone or changed (a failed job deletes its outputs, and a consumer computed from them
must not look finished). Snakemake then sees them missing and schedules their producers; nothing is
deleted: the files go to ``<results>/.quarantine/<time>/``. A digest cache keyed on size and
modification time (``.snakemake/fal-digests.json``) keeps this from re-reading unchanged files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
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


def _within(path: str, roots: Sequence[str | Path]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def verify_inputs(inputs: Iterable[Any], managed: Sequence[str | Path], skip: Sequence[str | Path] = ()) -> None:
    """Check every input under a ``managed`` folder (written by workflow jobs) against its digest; inputs
    under ``skip`` are checked by their own readers (the data cache)."""
    for path in _flat(inputs):
        if _within(path, managed) and not _within(path, skip):
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


def unseal(outputs: Iterable[Any]) -> None:
    """Drop the sidecars of outputs a job is about to rewrite (a job that fails leaves none behind)."""
    for path in _flat(outputs):
        sidecar_of(path).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------
# The scan before a run


class _DigestCache:
    """SHA-256 of files by (size, mtime): unchanged files are not read again."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, list] = {}
        if path is not None and path.is_file():
            try:
                self.entries = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                self.entries = {}

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
        cached = self.entries.get(key)
        if cached and cached[:2] == stamp:
            return str(cached[2])
        value = file_sha256(path)
        self.entries[key] = [*stamp, value]
        return value

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries))
            os.replace(tmp, self.path)  # two runs at once: the last complete write wins, each one valid


def find_damaged(
    roots: Sequence[str | Path], cache: Path | None = None, regenerable: Sequence[str | Path] = ()
) -> dict[str, tuple[str, str]]:
    """Result files under ``roots`` that must be rebuilt: path → (root cause, why). A root cause is a
    file whose content does not match its digest, or one computed from an input that is gone (a
    failed job deleted it); everything computed from a root cause, transitively, shares it, because
    Snakemake does not rebuild a missing intermediate file while the files computed from it exist.

    Files under ``regenerable`` (the data cache: a deterministic function of the raw data) are the
    exception: one that is missing or damaged is rebuilt when a job needs it, and what was computed from
    it is judged against the rebuilt file's digest then, so that a byte-identical rebuild reruns nothing."""
    digests = _DigestCache(cache)
    records: dict[str, dict[str, Any]] = {}
    for root in roots:
        for sidecar in Path(root).rglob(f"*{SIDECAR_SUFFIX}"):
            if ".quarantine" in sidecar.parts:
                continue
            path = str(sidecar)[: -len(SIDECAR_SUFFIX)]
            if Path(path).is_file():
                records[path] = read_sidecar(path) or {}
    bad: dict[str, tuple[str, str]] = {}
    for path, record in records.items():
        if record.get("sha256") != digests.digest(Path(path)):
            rule = record.get("rule", "?")
            bad[path] = (path, f"does not match the digest recorded when rule {rule} wrote it (truncated or edited)")

    def current(path: str) -> str | None:
        if path in bad or not Path(path).is_file():
            return None
        if path in records:
            return str(records[path].get("sha256"))
        return digests.digest(Path(path))

    changed = True
    while changed:  # a file to be rebuilt makes what was computed from it stale, and so on
        changed = False
        for path, record in records.items():
            if path in bad:
                # the job that rebuilds it rewrites its other outputs too: without them moved aside,
                # Snakemake would not rerun a job whose consumers find what they read
                for sibling in record.get("outputs", []):
                    if sibling != path and sibling in records and sibling not in bad:
                        bad[sibling] = (bad[path][0], f"written by the same job as {path}")
                        changed = True
                continue
            for source, recorded in record.get("inputs", {}).items():
                now = current(source)
                if now == recorded:
                    continue
                if now is None and regenerable and _within(source, regenerable):
                    continue  # judged against the rebuilt file's digest once a job rebuilds it
                if source in bad:
                    bad[path] = (bad[source][0], f"computed from {source}")
                elif now is None:
                    bad[path] = (source, "is missing (a failed job removed it, or it was deleted)")
                else:
                    bad[path] = (path, f"was computed from an earlier version of {source}")
                changed = True
                break
    digests.save()
    return bad


def quarantine(paths: Iterable[str], results: str | Path) -> Path:
    """Move ``paths`` and their sidecars to ``<results>/.quarantine/<time>/`` (nothing is deleted)."""
    target = Path(results) / ".quarantine" / time.strftime("%Y%m%dT%H%M%S")
    for path in paths:
        for item in (Path(path), sidecar_of(path)):
            if item.exists():
                rel = Path(os.path.relpath(item.resolve(), Path.cwd()))
                dest = target / (rel if not rel.is_absolute() and ".." not in rel.parts else item.name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(item), dest)
    return target


def quarantine_damaged(
    roots: Sequence[str | Path],
    results: str | Path,
    cache: Path | None = None,
    regenerable: Sequence[str | Path] = (),
) -> list[str]:
    """Move aside every damaged or stale result under ``roots`` so that this run (a dry run included)
    schedules the jobs that rebuild it; one line per root cause for the log (``regenerable``: see
    ``find_damaged``)."""
    bad = find_damaged([r for r in roots if Path(r).exists()], cache, regenerable)
    if not bad:
        return []
    causes = sorted({cause for cause, _ in bad.values()})
    rules = {cause: (read_sidecar(cause) or {}).get("rule", "?") for cause in causes}
    where = quarantine(bad, results)
    lines = []
    for cause in causes:
        dependants = sum(1 for path, (root, _) in bad.items() if root == cause and path != cause)
        if cause in bad:  # its content does not match its digest
            also = f" with the {dependants} results written with or computed from it" if dependants else ""
            lines.append(
                f"Damaged result: {cause} {bad[cause][1]}: moved to {where}/{also}; this run rebuilds it (rule {rules[cause]}; "
                f"alone: `snakemake --cores 1 {cause}`)"
            )
        else:
            why = next(why for root, why in bad.values() if root == cause)
            lines.append(
                f"Missing result: {cause} {why}: the {dependants} results computed from it were moved to {where}/; "
                f"this run rebuilds it and them (alone: `snakemake --cores 1 {cause}`)"
            )
    return lines
