"""Damaged and stale results, found before a run (the planning side; no job imports this).

``find_damaged`` (read-only) names every result whose content no longer matches its digest
(fal.integrity's sidecars), and every result whose recorded inputs are gone or changed (a failed job
deletes its outputs, and a consumer computed from them must not look finished). The workflow makes
Snakemake rebuild them (forced jobs) and says so; a dry run stops there and changes no file. A real run
then moves them aside before any job starts (``quarantine``, ``damage_report``): nothing is deleted, the
files go to ``<results>/.quarantine/<time>/``. A digest cache keyed on size and modification time
(``.snakemake/fal-digests.json``, saved by real runs) keeps this from re-reading unchanged files.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fal.integrity import SIDECAR_SUFFIX, file_sha256, read_sidecar, sidecar_of, within
from fal.json_store import JsonStore


class DigestCache:
    """SHA-256 of files by (size, mtime): unchanged files are not read again."""

    def __init__(self, path: Path | None):
        self.store = JsonStore(path)

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
        cached = self.store.get(key)
        if cached and cached[:2] == stamp:
            return str(cached[2])
        value = file_sha256(path)
        self.store.put(key, [*stamp, value])
        return value

    def save(self) -> None:
        self.store.save()


def sealed_records(roots: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    """Every sealed result under ``roots`` (outside the quarantine) with its sidecar record."""
    records: dict[str, dict[str, Any]] = {}
    for root in [r for r in roots if Path(r).exists()]:
        for sidecar in Path(root).rglob(f"*{SIDECAR_SUFFIX}"):
            if ".quarantine" in sidecar.parts:
                continue
            path = str(sidecar)[: -len(SIDECAR_SUFFIX)]
            if Path(path).is_file():
                records[path] = read_sidecar(path) or {}
    return records


def _stale_because(
    path: str,
    record: Mapping[str, Any],
    bad: Mapping[str, tuple[str, str]],
    current: Callable[[str], str | None],
    regenerable: Sequence[str | Path],
) -> tuple[str, str] | None:
    """(root cause, why) when one of ``path``'s recorded inputs is to be rebuilt, gone or changed; else None."""
    for source, recorded in record.get("inputs", {}).items():
        now = current(source)
        if now == recorded:
            continue
        if now is None and regenerable and within(source, regenerable):
            continue  # judged against the rebuilt file's digest once a job rebuilds it
        if source in bad:
            return bad[source][0], f"computed from {source}"
        if now is None:
            return source, "is missing (a failed job removed it, or it was deleted)"
        return path, f"was computed from an earlier version of {source}"
    return None


def find_damaged(
    roots: Sequence[str | Path], digests: DigestCache | None = None, regenerable: Sequence[str | Path] = ()
) -> dict[str, tuple[str, str]]:
    """Result files under ``roots`` that must be rebuilt: path → (root cause, why). A root cause is a
    file whose content does not match its digest, or one computed from an input that is gone (a
    failed job deleted it); everything computed from a root cause, transitively, shares it, because
    Snakemake does not rebuild a missing intermediate file while the files computed from it exist.

    Files under ``regenerable`` (the data cache: a deterministic function of the raw data) are the
    exception: one that is missing or damaged is rebuilt when a job needs it, and what was computed from
    it is judged against the rebuilt file's digest then, so that a byte-identical rebuild reruns nothing."""
    digests = digests if digests is not None else DigestCache(None)
    records = sealed_records(roots)
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
            if path not in bad:
                cause = _stale_because(path, record, bad, current, regenerable)
                if cause is not None:
                    bad[path], changed = cause, True
                continue
            # the job that rebuilds it rewrites its other outputs too: without them rebuilt, Snakemake would
            # not rerun a job whose consumers find what they read
            for sibling in record.get("outputs", []):
                if sibling != path and sibling in records and sibling not in bad:
                    bad[sibling], changed = (bad[path][0], f"written by the same job as {path}"), True
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


def damage_report(bad: Mapping[str, tuple[str, str]], where: str | Path | None) -> list[str]:
    """One line per root cause of ``find_damaged``'s answer: what is wrong, what is rebuilt and how;
    ``where``: the quarantine folder they were moved to, or None in a dry run (nothing moved)."""
    causes = sorted({cause for cause, _ in bad.values()})
    moved = (
        f"moved to {where}/"
        if where is not None
        else "a real run moves them to results/.quarantine/ (this dry run moved nothing)"
    )
    lines = []
    for cause in causes:
        rule = (read_sidecar(cause) or {}).get("rule", "?")
        dependants = sum(1 for path, (root, _) in bad.items() if root == cause and path != cause)
        if cause in bad:  # its content does not match its digest
            also = f" with the {dependants} results written with or computed from it" if dependants else ""
            lines.append(
                f"Damaged result: {cause} {bad[cause][1]}: {moved}{also}; the run rebuilds it (rule {rule}; "
                f"alone: `snakemake --cores 1 {cause}`)"
            )
        else:
            why = next(why for root, why in bad.values() if root == cause)
            lines.append(
                f"Missing result: {cause} {why}: the {dependants} results computed from it are rebuilt ({moved}); "
                f"alone: `snakemake --cores 1 {cause}`"
            )
    return lines


def quarantine_damaged(
    roots: Sequence[str | Path],
    results: str | Path,
    cache: Path | None = None,
    regenerable: Sequence[str | Path] = (),
) -> list[str]:
    """Move aside every damaged or stale result under ``roots`` (``find_damaged``); one line per root
    cause for the log."""
    digests = DigestCache(cache)
    bad = find_damaged(roots, digests, regenerable)
    digests.save()
    if not bad:
        return []
    return damage_report(bad, quarantine(bad, results))


def cache_problem(npz: str, meta: str, code: str) -> str | None:
    """What is wrong with a data cache (its NPZ and meta sidecar) that the code hashed ``code`` should have
    built, in words; None when it is present, intact and built by that code (recorded in its sidecar)."""
    for path in (npz, meta):
        if not Path(path).is_file() or not Path(path).stat().st_size:
            return f"{path} is missing"
        record = read_sidecar(path)
        if record is None:
            return f"{path} has no content digest"
        if record.get("sha256") != file_sha256(path):
            return f"{path} does not match its digest (truncated or edited)"
        if record.get("code") != code:
            return f"{path} was built by other code (its dataset module or the preparation script changed)"
    return None


def computed_from(roots: Sequence[str | Path], path: str) -> bool:
    """Whether any sealed result under ``roots`` records ``path`` among its inputs."""
    return any(path in record.get("inputs", {}) for record in sealed_records(roots).values())
