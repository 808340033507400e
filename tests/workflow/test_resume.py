"""Reliability: interrupted jobs resume to the uninterrupted result, reruns are bitwise identical,
and two studies can run at once (reference: issue "Reliability")."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import SNAKEMAKE, copy_project, snakemake, tiny_study_config

from fal.data.images import ImageBank
from fal.data.synthetic import synthetic_arrays
from fal.federated.flconfig import FLConfig
from fal.federated.models import build_model
from fal.federated.training import ClientData, FederatedCycle, RoundCheckpoint, TrainingHooks, train_sequential
from fal.plan.catalog import DATASETS

# ------------------------------------------------------------------------------------------------
# The checkpoint itself


def small_problem():
    arrays = synthetic_arrays(num_classes=4, per_class=30, seed=3)
    bank = ImageBank(arrays.train_images, (0.286,), (0.353,), "cpu")
    test_bank = ImageBank(arrays.test_images, (0.286,), (0.353,), "cpu")
    clients = [
        ClientData(np.arange(k * 30, (k + 1) * 30), arrays.train_labels[k * 30 : (k + 1) * 30]) for k in range(3)
    ]
    cfg = FLConfig(
        rounds=4,
        local_epochs=1,
        batch_size=8,
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-5,
        lr_decay=0.1,
        lr_decay_at=0.5,
        client_fraction=1.0,
    )
    return arrays, bank, test_bank, clients, cfg


def train(problem, checkpoint=None, stop_after=None, on_resume=None):
    arrays, bank, test_bank, clients, cfg = problem

    def progress(row):
        if stop_after is not None and row["round"] == stop_after:
            raise KeyboardInterrupt("simulated kill")

    model = build_model("cnn4conv", DATASETS["octmnist"], 5)
    return train_sequential(
        FederatedCycle(model, clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(1, "x")),
        TrainingHooks(progress=progress, checkpoint=checkpoint, on_resume=on_resume),
    )


def test_resumed_training_equals_uninterrupted(tmp_path):
    problem = small_problem()
    reference = train(problem)
    checkpoint = RoundCheckpoint(tmp_path / "ck.pt", every=1, fingerprint="job-a")
    with pytest.raises(KeyboardInterrupt):
        train(problem, checkpoint, stop_after=3)  # killed right after round 3 was reported
    resumed_at = []
    result = train(problem, checkpoint, on_resume=resumed_at.append)
    assert resumed_at == [3]  # a reported round is already saved
    assert result.rounds["round"].tolist() == [1, 2, 3, 4]
    for key, value in reference.state_dict.items():
        assert torch.equal(value, result.state_dict[key]), key
    cols = ["round", "lr", "train_loss", "test_loss", "test_acc"]
    assert reference.rounds[cols].equals(result.rounds[cols])


def test_foreign_or_torn_checkpoints_are_ignored(tmp_path):
    problem = small_problem()
    checkpoint = RoundCheckpoint(tmp_path / "ck.pt", every=1, fingerprint="job-a")
    with pytest.raises(KeyboardInterrupt):
        train(problem, checkpoint, stop_after=3)
    other = RoundCheckpoint(tmp_path / "ck.pt", every=1, fingerprint="job-b")
    assert other.load() is None  # another job's state is never reused
    assert other.ignored_because == "written for other inputs or parameters"
    (tmp_path / "ck.pt").write_bytes(b"torn")
    assert checkpoint.load() is None
    assert checkpoint.ignored_because.startswith("unreadable")
    resumed = []
    train(problem, checkpoint, on_resume=resumed.append)
    assert resumed == []


# ------------------------------------------------------------------------------------------------
# Whole-workflow behaviour


def reliable_config(data_cache, studies=("reliable",)):
    config = tiny_study_config("reliable")
    reliable = config["studies"]["reliable"]
    for name in studies:
        config["studies"][name] = dict(reliable, seeds=[1] if name == "reliable" else [2])
    config["run_studies"] = [studies[0]]
    config["paths"]["data_cache"] = str(data_cache)
    config["runtime"]["checkpoint_every"] = 1
    return config


def outputs(project: Path) -> dict[str, Path]:
    root = project / "results"
    keep = (".parquet", ".json", ".pt")
    return {
        str(p.relative_to(root)): p
        for p in root.rglob("*")
        if p.suffix in keep
        and "benchmarks" not in p.parts
        and "logs" not in p.parts
        and not p.name.endswith(".digest.json")
    }


def assert_same_results(a: Path, b: Path) -> None:
    files_a, files_b = outputs(a), outputs(b)
    assert sorted(files_a) == sorted(files_b)
    assert not [name for name in files_a if name.endswith(".resume.pt")], "checkpoints must be removed after success"
    for name, path in files_a.items():
        other = files_b[name]
        if path.suffix == ".pt":
            sa, sb = torch.load(path, weights_only=True), torch.load(other, weights_only=True)
            assert all(torch.equal(sa[k], sb[k]) for k in sa), name
        elif path.suffix == ".parquet":
            da, db = pd.read_parquet(path), pd.read_parquet(other)
            pd.testing.assert_frame_equal(da, db, check_exact=True, obj=name)
            assert path.read_bytes() == other.read_bytes(), name  # no wall-clock time in any result
        else:
            assert path.read_bytes() == other.read_bytes(), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_cache):
    project = copy_project(tmp_path_factory.mktemp("reference"), reliable_config(data_cache))
    snakemake(project, "all")
    return project


@pytest.mark.workflow
def test_same_study_twice_is_bitwise_identical(tmp_path, reference, data_cache):
    project = copy_project(tmp_path, reliable_config(data_cache))
    snakemake(project, "all")
    assert_same_results(reference, project)


def start(project: Path, *args: str) -> subprocess.Popen:
    cmd = [str(SNAKEMAKE), "--workflow-profile", "none", "--cores", "1", *args]
    return subprocess.Popen(
        cmd, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def kill_when(proc: subprocess.Popen, condition, timeout: float = 300) -> object:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return found
        if proc.poll() is not None:
            raise AssertionError("the workflow finished before the kill point was reached")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("kill point not reached in time")


@pytest.mark.workflow
def test_sigkill_during_training_and_query_then_rerun(tmp_path, reference, data_cache):
    project = copy_project(tmp_path, reliable_config(data_cache))
    logs = project / "logs/reliable"

    def training_past_round_2():
        for log in (logs / "train").rglob("*.log") if (logs / "train").exists() else []:
            text = log.read_text()
            if "round 2/4" in text and "done:" not in text:
                return log
        return None

    killed_train_log = kill_when(start(project, "all"), training_past_round_2)
    snakemake(project, "--unlock")

    def query_mid_way():
        for log in (logs / "query").rglob("*.log") if (logs / "query").exists() else []:
            if "client 0: local-only model trained" in log.read_text() and "query done" not in log.read_text():
                return log
        return None

    killed_query_log = kill_when(start(project, "--rerun-incomplete", "all"), query_mid_way)
    snakemake(project, "--unlock")
    snakemake(project, "--rerun-incomplete", "all")

    # the interrupted training job continued from its checkpoint: no completed round was recomputed
    resumed = killed_train_log.read_text()
    assert "resuming from the checkpoint after round" in resumed
    first_round = int(resumed.split("after round ")[1].split("/")[0])
    assert first_round >= 2
    trained = [int(r) for r in re.findall(r"cycle \d+ round (\d+)/4 clients", resumed)]
    assert trained == list(range(first_round + 1, 5))  # only the rounds after the checkpoint ran again
    assert "query done" in killed_query_log.read_text()
    # and the final results equal an uninterrupted run's, bit for bit
    assert_same_results(reference, project)


@pytest.mark.workflow
def test_two_studies_run_at_the_same_time(tmp_path, data_cache):
    config = reliable_config(data_cache, studies=("study_a", "study_b"))
    project = copy_project(tmp_path, config)
    procs = [
        subprocess.Popen(
            [
                str(SNAKEMAKE),
                "--workflow-profile",
                "none",
                "--cores",
                "1",
                "--nolock",  # as docs/running.md says: Snakemake's lock clean-up races between two runs in one folder
                "all",
                "--config",
                f'run_studies=["{name}"]',
            ],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("study_a", "study_b")
    ]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    for name in ("study_a", "study_b"):
        assert (project / f"results/test-reports/{name}/table_accuracy.md").exists()
        assert (project / f"results/{name}/metrics.parquet").exists()
