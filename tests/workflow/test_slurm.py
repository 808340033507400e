"""The SLURM profile end to end on a real single-node cluster (Debian's slurm-wlm and munge).

A tiny study runs once locally and once through ``--profile profiles/slurm`` (sbatch, the
plugin's srun job step, squeue status checks, grouped short jobs, ``--gpus=1`` on fake GPUs); its
results must be identical. Skipped, with the reason, where a cluster cannot be started (not root,
packages not installable). The daemons run from a temporary folder and are stopped by their PIDs.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from helpers import SNAKEMAKE, copy_project, same_result, snakemake, tiny_study_config
from slurm_cluster import SlurmCluster, unavailable_reason

pytestmark = pytest.mark.workflow


def tiny_config() -> dict:
    """``.test/config/slurm.yaml`` as the only study (the cluster run and the local reference)."""
    config = tiny_study_config("slurm")
    config["studies"] = {"tiny": config["studies"]["tiny"]}
    return config


@pytest.fixture(scope="module")
def cluster(fmnist_arrays):
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no SLURM cluster: {reason}")
    with SlurmCluster() as running:
        pids = {name: int(path.read_text()) for name, path in running.started.items()}
        yield running
        stopped = running.stop()
    assert sorted(stopped) == sorted(pids.values())
    for pid in stopped:  # gone, or a zombie waiting for a reaper
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"


def result_files(project: Path) -> list[str]:
    """Every result and report file, by relative path (logs and benchmarks hold times)."""
    files = []
    for top in ("results", "reports"):
        for path in sorted((project / top).rglob("*")):
            rel = path.relative_to(project).as_posix()
            if (
                path.is_file()
                and "/logs/" not in rel
                and "/benchmarks/" not in rel
                and not rel.endswith(".digest.json")
            ):
                files.append(rel)
    return files


def minutes(slurm_time: str) -> int:
    """SLURM's [D-]HH:MM:SS as minutes."""
    days, _, hms = slurm_time.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def test_tiny_study_through_the_slurm_profile_equals_the_local_run(cluster, tmp_path):
    (tmp_path / "slurm").mkdir()
    remote = copy_project(tmp_path / "slurm", tiny_config())
    (tmp_path / "local").mkdir()
    local = copy_project(tmp_path / "local", tiny_config())

    # The SLURM run mostly waits (job start-up, status polls), so the local run goes meanwhile.
    start = time.monotonic()
    cmd = [
        str(SNAKEMAKE),
        "--profile",
        "profiles/slurm",
        "--workflow-profile",
        "none",
        # one node, no shared-FS cache delays: check early and often (the profile's values suit a real cluster)
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--latency-wait",
        "5",
        "all",
    ]
    proc = subprocess.Popen(
        cmd, cwd=remote, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        snakemake(local, "all")
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    wall = time.monotonic() - start
    assert proc.returncode == 0, f"{output[-6000:]}\n--- slurmctld:\n{cluster.log('slurmctld')[-3000:]}"
    print(f"\nSLURM run of the tiny study (local run alongside): {wall:.1f} s")

    # the same results
    files = result_files(local)
    assert {"metrics.parquet", "model.pt", "labelled.parquet", "table_accuracy.csv", "accuracy_curves.png"} <= {
        Path(f).name for f in files
    }
    assert result_files(remote) == files
    differing = [f for f in files if not same_result(local / f, remote / f)]
    assert not differing, f"differ between the local and the SLURM run: {differing}"

    # Every job went through SLURM and succeeded: 1 setup group, 3 train, 2 query, 1 summary group.
    # The plugin names logs .snakemake/slurm_logs/<rule_X or group_X...>/<wildcards>/<jobid>.log.
    jobs = cluster.jobs()
    assert [j["JobState"] for j in jobs] == ["COMPLETED"] * len(jobs), jobs
    kinds = {}
    for job in jobs:
        log = Path(job["StdOut"])
        assert log.is_relative_to(remote / ".snakemake/slurm_logs"), log
        kind = log.relative_to(remote / ".snakemake/slurm_logs").parts[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        # GPU rules ask for one GPU (--gpus=1), the others for none; --time and --mem are the
        # runtime and mem_mb the job step printed for the rule
        wants_gpu = kind in ("rule_train", "rule_query")
        assert (job.get("TresPerJob") == "gres:gpu:1") == wants_gpu, (kind, job.get("TresPerJob"))
        if kind.startswith("rule_"):
            printed = re.search(r"resources: .*?mem_mb=(\d+).*?runtime=(\d+)", log.read_text())
            assert printed, log.read_text()[-2000:]
            assert job["MinMemoryNode"] == f"{printed.group(1)}M"
            assert minutes(job["TimeLimit"]) == int(printed.group(2))
    assert {k.split("_")[0] + "_" + k.split("_")[1]: n for k, n in kinds.items()} == {
        "group_setup": 1,
        "rule_train": 3,
        "rule_query": 2,
        "group_summary": 1,
    }, kinds
    # nothing left to do, for the local executor too
    assert snakemake(remote, "-n", "all").stdout.count("rule ") == 0


def test_cluster_is_skipped_with_a_reason_when_not_root(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert "needs root" in unavailable_reason()
