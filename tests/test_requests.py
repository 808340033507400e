"""Cluster requests from a study's own benchmark files (fal/plan/requests.py), by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fal.plan.requests import (
    MEMORY_FLOOR_MB,
    START_MINUTES,
    TIME_MARGIN,
    measured_request,
    percentile,
    read_benchmark,
    same_shape,
)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(path, *rows):
    """A benchmark file as Snakemake writes it: one row per (seconds, max_rss MB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{s}\t0:00:00\t{rss}\t0\t0\t0\t0\t0\t0\t0\n" for s, rss in rows))
    return path


@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_percentile_is_numpys_linear_one(q):
    values = [3.0, 1.0, 7.5, 2.0, 10.0, 4.0]
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_request_is_the_95th_percentile_times_the_margin_plus_start_up(tmp_path):
    files = [bench(tmp_path / f"seed{i}.tsv", (600 * i, 1000 * i)) for i in range(1, 5)]  # 10..40 min, 1..4 GB
    request = measured_request(files)
    seconds = np.percentile([600, 1200, 1800, 2400], 95)
    assert request.minutes == math.ceil(seconds * TIME_MARGIN / 60) + START_MINUTES == 63  # 2,310 s × 1.5 = 57.75 min
    assert request.mem_mb == math.ceil(np.percentile([1000, 2000, 3000, 4000], 95) * 1.5) == 5775
    assert request.jobs == 4


def test_small_jobs_get_the_memory_floor_and_missing_figures_none(tmp_path):
    assert measured_request([bench(tmp_path / "a.tsv", (12.5, 300))]).mem_mb == MEMORY_FLOOR_MB
    assert measured_request([bench(tmp_path / "b.tsv", (12.5, "NA"))]).mem_mb is None


def test_no_measurement_leaves_the_model(tmp_path):
    (tmp_path / "empty.tsv").write_text(HEADER)
    (tmp_path / "junk.tsv").write_text("not a benchmark\n\x00\x01")
    assert measured_request([tmp_path / "empty.tsv", tmp_path / "junk.tsv", tmp_path / "absent.tsv"]) is None
    assert read_benchmark(tmp_path / "absent.tsv") == []


def test_a_shape_is_every_seed_of_the_same_job(tmp_path):
    root = tmp_path / "logs/quick/benchmarks/train/setting"
    mine = root / "seed2/fairfal/cycle3.tsv"
    others = [bench(root / f"seed{s}/fairfal/cycle3.tsv", (60, 100)) for s in (1, 3, 12)]
    bench(root / "seed1/fairfal/cycle4.tsv", (60, 100))  # another cycle: another shape
    bench(root / "seed1/random/cycle3.tsv", (60, 100))  # another arm
    assert same_shape(str(mine), 2) == sorted(others)
