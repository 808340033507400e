"""KAFAL's native setting through the DAG on a partition file with unequal clients and per-client
budgets (.test/config/tiny_kafal_file.yaml), and the documented override that runs KAFAL Table 2 on a
user's copy of KAFAL's partition file (docs/examples/kafal_partition_file.yaml)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, copy_project, run_tiny_study, snakemake, tiny_study_config

pytestmark = pytest.mark.workflow

CLIENTS = json.loads((ROOT / ".test/config/tiny_kafal_partition.json").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory, data_cache):
    return run_tiny_study(tmp_path_factory.mktemp("kafal_file"), data_cache, "tiny_kafal_file")


def test_each_client_labels_its_own_share_in_every_cycle(project):
    runs = list((project / "results/tiny_kafal_file").glob("*/seed1"))
    assert len(runs) == 1 and "-file" in runs[0].parent.name
    summary = json.loads((runs[0] / "partition.json").read_text())
    assert summary["client_sizes"] == [len(c) for c in CLIENTS] == [121, 83, 57]
    assert summary["budget"]["rule"] == "per_client"
    for strategy in ("random", "kafal_full"):
        for cycle in (1, 2, 3):
            arm = "init" if cycle == 1 else strategy
            labelled = pd.read_parquet(runs[0] / arm / f"cycle{cycle}/labelled.parquet")
            sizes = labelled.groupby("client").size().tolist()
            assert sizes == [math.ceil(0.1 * n) + (cycle - 1) * math.ceil(0.05 * n) for n in (121, 83, 57)]


def test_the_kafal_schedule_ran_its_residual_network_with_crops(project):
    logs = project / "logs/tiny_kafal_file"
    train = (next(logs.glob("train/*/seed1/kafal_full/cycle2.log"))).read_text()
    assert (
        "training kafal_resnet8" in train
        and "KAFAL's federated schedule: client optimisers per cycle" in train
        and "kcfu" in train
    )
    assert "partition read from" in next(logs.glob("partition/*/seed1.log")).read_text()
    sizes = [len(c) for c in CLIENTS]
    labelled = [sum(math.ceil(0.1 * n) + k * math.ceil(0.05 * n) for n in sizes) for k in range(3)]
    assert labelled == [28, 43, 58]  # 13 + 9 + 6, then + 7 + 5 + 3 per query
    shares = [100 * n / sum(sizes) for n in labelled]  # of the clients' 261 images
    metrics = pd.read_parquet(project / "results/tiny_kafal_file/metrics.parquet")
    recorded = metrics[metrics["metric"] == "labelled_share"].groupby("cycle")["value"].first().tolist()
    assert np.allclose(recorded, shares)
    for table in (
        project / "results/test-reports/tables/tiny_kafal_file/kafal_table2_3.md",
        project / "results/test-reports/tiny_kafal_file/table_accuracy.md",
    ):
        text = table.read_text()
        for ratio, share in zip((10, 15, 20), shares):  # the real labelled share beside the nominal ratio
            assert f"{ratio}% ({share:.2f}% labelled)" in text, (table.name, ratio)


def test_the_documented_override_runs_on_a_copy_of_kafals_file(tmp_path):
    project = copy_project(tmp_path, tiny_study_config("tiny"))
    rng = np.random.default_rng(0)
    order = rng.permutation(50000).tolist()
    cuts = [0, 5021, 9577, 14585, 19599, 25164, 30990, 36167, 41353, 45875, 50000]  # KAFAL's client sizes
    split = [order[a:b] for a, b in zip(cuts, cuts[1:])]
    target = project / "data/raw/kafal/alpha0-1_cifar10_10clients.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(split))
    override = str(ROOT / "docs/examples/kafal_partition_file.yaml")
    out = snakemake(project, "-n", "all", "--configfile", override).stdout
    assert "rule partition:" in out and "cifar10-alpha0.1-K10-file" in out
    target.unlink()
    missing = snakemake(project, "-n", "all", "--configfile", override, check=False)
    assert missing.returncode != 0 and "no such file" in missing.stdout + missing.stderr
