"""The SLURM profile end to end on a real single-node cluster (Debian's slurm-wlm, munge, and slurmdbd
with MariaDB for ``sacct``).

A tiny study runs once locally and once through ``--profile profiles/slurm`` (sbatch, the
plugin's srun job steps, squeue status checks, grouped short jobs, GPU jobs packed K runs' cycle per
allocation, ``--gpus=1`` on fake GPUs); its results must be identical. The packed allocation's jobs
are its job steps in ``sacct``. Skipped, with the reason, where a cluster cannot be started (not root,
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
    with SlurmCluster(accounting=True) as running:
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


def printed_requests(log: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(rule, wildcards) → (mem_mb, runtime) of every job a SLURM log printed (the group's Snakemake and
    each job step's print the same job: one entry)."""
    requests, rule, wildcards = {}, "", ""
    for line in log.splitlines():
        stripped = line.strip()
        if re.match(r"^(local)?rule \w+:$", stripped):
            rule, wildcards = stripped.split()[-1].rstrip(":"), ""
        elif stripped.startswith("wildcards:"):
            wildcards = stripped
        elif stripped.startswith("resources:") and rule:
            values = dict(item.strip().split("=", 1) for item in stripped.split(":", 1)[1].split(","))
            requests[(rule, wildcards)] = (int(values["mem_mb"]), int(values["runtime"]))
    return requests


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

    # Every job went through SLURM and succeeded, packed: the setup group, cycle 1's shared training,
    # one submission with both runs' cycle-2 query and training (K = 4 runs per GPU allocation), the
    # summary group. The plugin names logs .snakemake/slurm_logs/group_<group>_<rules>/<jobid>.log.
    jobs = cluster.jobs()
    assert [j["JobState"] for j in jobs] == ["COMPLETED"] * len(jobs), jobs
    submitted = {}
    for job in jobs:
        log = Path(job["StdOut"])
        assert log.is_relative_to(remote / ".snakemake/slurm_logs"), log
        submitted[log.relative_to(remote / ".snakemake/slurm_logs").parts[0]] = job
    gpu_groups = sorted(kind for kind in submitted if kind.startswith("group_gpu_cycle"))
    assert gpu_groups == ["group_gpu_cycle1_train", "group_gpu_cycle2_query_train"], sorted(submitted)
    assert len(submitted) == 4 and {kind.split("_")[1] for kind in submitted} == {"gpu", "setup", "summary"}
    for kind, job in submitted.items():  # one GPU per packed allocation, none for the others
        assert (job.get("TresPerJob") == "gres:gpu:1") == (kind in gpu_groups), (kind, job.get("TresPerJob"))

    # The packed allocation: its four jobs ran as job steps inside it (sacct), one after another
    # (today's plugin), and it asked for their runtimes added up and the largest memory, as printed.
    packed = submitted["group_gpu_cycle2_query_train"]
    records = cluster.steps(packed["JobId"])
    steps = [s for s in records if "." in s["JobID"] and s["JobID"].split(".")[1].isdigit()]  # not the batch step
    assert len(steps) == 4 and all(s["State"] == "COMPLETED" for s in steps), steps
    assert "gres/gpu=1" in records[0]["AllocTRES"]  # the allocation: one GPU
    ends = sorted((s["Start"], s["End"]) for s in steps)
    assert all(end <= start for (_, end), (start, _) in zip(ends, ends[1:]))  # one after another
    members = printed_requests(Path(packed["StdOut"]).read_text())
    assert len(members) == 4, Path(packed["StdOut"]).read_text()[-3000:]
    assert minutes(packed["TimeLimit"]) == sum(runtime for _, runtime in members.values())
    assert packed["MinMemoryNode"] == f"{max(mem for mem, _ in members.values())}M"
    # nothing left to do, for the local executor too
    assert snakemake(remote, "-n", "all").stdout.count("rule ") == 0


def test_cluster_is_skipped_with_a_reason_when_not_root(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert "needs root" in unavailable_reason()
