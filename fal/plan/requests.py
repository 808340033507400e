"""Cluster requests from measurement: what the study's finished jobs of the same rule and shape took.

Snakemake writes a ``benchmark:`` file per job (``logs/<study>/benchmarks/<rule>/...tsv``: wall seconds
``s`` and peak memory ``max_rss`` in MB). When a job's shape (its rule, setting, arm or strategy, and
cycle: the same work on the same data, only the seed differs) has such files, its runtime and memory
requests are a high percentile of the measured values times a margin, plus a fixed allowance for start-up
and file-system delays; otherwise resources.smk's model stands. Requests are resources, never params:
new or edited benchmark files change what a job asks the scheduler for, never whether it reruns.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PERCENTILE = 95.0
"""The percentile of the measured jobs a request covers (all of them while there are fewer than 20)."""
TIME_MARGIN = 1.5
"""Runtime request = percentile × this + START_MINUTES: a shape's seeds take about the same time, but a
busy node or file system can slow one down."""
START_MINUTES = 5
MEMORY_MARGIN = 1.5
MEMORY_FLOOR_MB = 2000
"""No request below this: torch alone takes about 1 GB of host memory."""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    max_rss_mb: float | None


@dataclass(frozen=True)
class Request:
    minutes: int
    mem_mb: int | None
    """None when the files hold no memory figure (the model's request stands)."""
    jobs: int
    """How many measured jobs it is based on."""


def read_benchmark(path: Path) -> list[Measurement]:
    """The rows of one Snakemake benchmark file (several with ``benchmark: repeat(...)``); none when the
    file is unreadable or is not a benchmark file (a measurement must never stop a plan)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    measured = []
    for row in rows:
        seconds = _number(row.get("s"))
        if seconds is None or seconds < 0:
            continue
        measured.append(Measurement(seconds, _number(row.get("max_rss"))))
    return measured


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "", "NA", "-") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation (NumPy's default), without NumPy on the planning path."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def measured_request(paths: Iterable[Path]) -> Request | None:
    """The runtime (minutes) and memory (MB) to request for a job whose shape these benchmark files
    measured; None when none of them holds a measurement."""
    measured = [m for path in paths for m in read_benchmark(path)]
    if not measured:
        return None
    seconds = percentile([m.seconds for m in measured], PERCENTILE)
    minutes = math.ceil(seconds * TIME_MARGIN / 60) + START_MINUTES
    rss = [m.max_rss_mb for m in measured if m.max_rss_mb is not None]
    mem_mb = max(MEMORY_FLOOR_MB, math.ceil(percentile(rss, PERCENTILE) * MEMORY_MARGIN)) if rss else None
    return Request(minutes, mem_mb, len(measured))


def same_shape(benchmark: str, seed: str | int) -> list[Path]:
    """The benchmark files of every seed's job of one shape: ``benchmark`` is the job's own benchmark
    path, whose ``seed<seed>`` folder stands for any seed."""
    marker = f"/seed{seed}/"
    if marker not in benchmark:
        return [Path(benchmark)] if Path(benchmark).is_file() else []
    head, tail = benchmark.split(marker, 1)
    return sorted(p for p in Path(head).glob(f"seed*/{tail}") if p.is_file())
