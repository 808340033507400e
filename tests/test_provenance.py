"""Provenance: each compute job's fingerprint travels with its numbers and names the machine."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import torch

from fal.io import read_parquet, write_parquet
from fal.provenance import describe, fingerprint, likely_reason, merge, parquet_metadata, read_fingerprints


def test_fingerprint_names_torch_the_cpu_its_kernels_and_the_determinism_settings():
    item = fingerprint(torch.device("cpu"), precision="bf16", trainer="sequential")
    assert item["torch"] == torch.__version__
    assert item["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert item["cpu"] and item["device"] == "cpu" and item["gpu"] == ""
    assert item["threads"] == str(torch.get_num_threads())
    assert item["deterministic"] in ("true", "false")
    assert item["precision"] == "fp32"  # CPU jobs compute in fp32 whatever runtime.precision says
    assert fingerprint(torch.device("cpu")) == fingerprint(torch.device("cpu"))  # nothing run-specific


def test_kernel_pins_are_recorded_when_set(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert fingerprint(torch.device("cpu"))["kernel_pins"] == "ATEN_CPU_CAPABILITY=avx2"
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    assert fingerprint(torch.device("cpu"))["kernel_pins"] == ""


def test_fingerprints_travel_in_parquet_metadata_without_touching_the_data(tmp_path):
    frame = pd.DataFrame({"round": [1, 2], "test_acc": [10.0, 20.0]})
    schema = pa.schema([("round", pa.int64()), ("test_acc", pa.float64())])
    item = fingerprint(torch.device("cpu"))
    write_parquet(frame, tmp_path / "a.parquet", schema, metadata=parquet_metadata([item, item]))
    assert read_parquet(tmp_path / "a.parquet", schema).equals(frame)
    assert read_fingerprints(tmp_path / "a.parquet") == [item]  # one entry per distinct fingerprint
    write_parquet(frame, tmp_path / "b.parquet", schema)
    assert read_fingerprints(tmp_path / "b.parquet") == []


def test_merge_counts_jobs_per_machine_and_describe_names_every_machine():
    amd = {"torch": "2.14.1", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "threads": "1"}
    intel = {**amd, "cpu": "Intel Xeon", "cpu_capability": "AVX2"}
    merged = merge([amd, {**amd, "jobs": 3}, intel])
    assert sorted((m["cpu"], m["jobs"]) for m in merged) == [("AMD EPYC", 4), ("Intel Xeon", 1)]
    assert describe([amd]).startswith("Computed with: torch 2.14.1")
    several = describe(merged)
    assert "AMD EPYC" in several and "Intel Xeon" in several and "(4 jobs)" in several
    assert "unrecorded" in describe([])


def test_likely_reason_names_what_differs_or_says_the_machine_does_not_explain_it():
    amd = {"torch": "2.14.1", "cpu": "AMD EPYC", "cpu_capability": "AVX512"}
    intel = {**amd, "cpu": "Intel Xeon", "cpu_capability": "AVX2"}
    reason = likely_reason([intel], [amd])
    assert "cpu_capability AVX2 → AVX512" in reason and "cpu Intel Xeon → AMD EPYC" in reason
    assert "not explained by the machine" in likely_reason([amd], [{**amd, "jobs": 7}])
    assert "cannot be told" in likely_reason([], [amd])


def test_training_and_query_jobs_of_one_machine_are_one_machine():
    cpu = {"torch": "2.14.1", "cpu": "AMD EPYC", "cpu_capability": "AVX512"}
    text = describe([{**cpu, "trainer": "sequential", "jobs": 8}, {**cpu, "trainer": "", "jobs": 4}])
    assert text.startswith("Computed with: ") and "sequential trainer" in text and "several" not in text


def test_a_job_read_by_several_runs_counts_once():
    """The shared cycle 1 is read by every strategy's run: its fingerprint travels with each run's
    metrics but counts as one job in the study's."""
    cpu = {"torch": "2.14.1", "cpu": "AMD EPYC", "cpu_capability": "AVX512"}
    run_a = [{**cpu, "job": "init/rounds.parquet"}, {**cpu, "job": "a/cycle2/rounds.parquet"}]
    run_b = [{**cpu, "job": "init/rounds.parquet"}, {**cpu, "job": "b/cycle2/rounds.parquet"}]
    assert merge([*run_a, *run_b]) == [{**cpu, "jobs": 3}]
    assert merge([cpu, {**cpu, "jobs": 2}, {**cpu, "job": "x"}]) == [{**cpu, "jobs": 4}]


def test_with_jobs_tags_each_fingerprint_with_its_file(tmp_path):
    from fal.provenance import with_jobs

    frame = pd.DataFrame({"round": [1]})
    item = fingerprint(torch.device("cpu"))
    write_parquet(frame, tmp_path / "r.parquet", metadata=parquet_metadata([item]))
    assert with_jobs(tmp_path / "r.parquet") == [{**item, "job": str(tmp_path / "r.parquet")}]
