"""A multi-label study (KAFAL Table 4's kind) through the Snakemake DAG on the CPU, from fixture data in
ChestMNIST's format to its mean-AUC table: multi-hot labels, the rarest-label partition, BCE training,
the multi-label query scores and the mean AUC, which is recomputed here from a saved model.

The fixture is a dataset module added to a copy of the project, as a user adds a dataset
(CONTRIBUTING.md): it reads a medmnist-format NPZ whose MD5 it declares, because the real ChestMNIST's
checksum would refuse a fixture."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import base_config, copy_project, snakemake
from sklearn.metrics import roc_auc_score

pytestmark = pytest.mark.workflow

LABELS = 14
STRATEGIES = ["random", "entropy_g", "margin_l_lastround", "coreset_l_lastround", "kafal"]


def chest_fixture(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """28-px grey images whose label k shows as a bright 4-px patch at grid cell k (so a CNN can learn
    it); each label has its own prevalence, some images have none (ChestMNIST's "No Finding")."""
    prevalence = np.linspace(0.08, 0.45, LABELS)
    labels = (rng.random((n, LABELS)) < prevalence).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for k in range(LABELS):
        row, col = divmod(k, 4)
        images[labels[:, k] == 1, 2 + 6 * row : 6 + 6 * row, 2 + 6 * col : 6 + 6 * col] = 220
    return images, labels


FIXTURE_MODULE = '''"""ChestMNIST-format fixture data (tests/workflow/test_workflow_multilabel.py)."""

from fal.config.datasets import DatasetSpec, SourceSpec
from fal.data.sources.medmnist import FILES

SOURCES = (
    SourceSpec(
        name="chestfix",
        train_counts=(),
        test_counts=(),
        sizes=({train}, {test}),
        raw_md5={{"medmnist/chestfix.npz": "{md5}"}},
    ),
)
DATASETS = (DatasetSpec("chestfix", "chestfix", 14, 1, 28, (0.5,), (0.5,), False, "Chest fixture", multi_label=True),)
__all__ = ["FILES"]  # medmnist's reader: the same file layout
'''


@pytest.fixture(scope="module")
def multilabel_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    config = base_config()
    config["paths"]["reports"] = "results/test-reports"
    config["data"]["download"] = False
    config["run_studies"] = ["tiny_multilabel"]
    config["studies"]["tiny_multilabel"] = {
        "description": "multi-label fixture data through the DAG (KAFAL Table 4's kind), tiny CPU check",
        "datasets": ["chestfix"],
        "alpha": [1],
        "seeds": [1],
        "strategies": STRATEGIES,
        "protocol": {
            "schedule": "kafal_chestxray",
            "model": "cnn4conv",
            "num_clients": 3,
            "rounds": 2,
            "local_epochs": 2,
            "batch_size": 32,
            "lr": 0.05,
            "initial_ratio": 0.2,
            "query_ratio": 0.1,
            "end_ratio": 0.3,
        },
        "federated": {"algorithm": "kcfu", "train_cycle1": False},  # one shared FedAvg cycle 1: quicker
        "tables": ["kafal_table4"],
    }
    project = copy_project(root, config)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 360), ("val", 20), ("test", 160)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = chest_fixture(rng, n)
    npz = project / "data/raw/medmnist/chestfix.npz"
    npz.parent.mkdir(parents=True)
    np.savez(npz, **arrays)
    md5 = hashlib.md5(npz.read_bytes()).hexdigest()
    module = FIXTURE_MODULE.format(train=360, test=160, md5=md5)
    (project / "fal/data/sources/chestfix.py").write_text(module)
    snakemake(project, "all")
    return project, arrays


def test_a_multilabel_study_runs_to_its_mean_auc_table(multilabel_project):
    project, _ = multilabel_project
    table = (project / "results/test-reports/tables/tiny_multilabel/kafal_table4.md").read_text()
    assert "mean AUC" in table and "KAFAL Table 4" in table
    for label in ("Random", "Entropy", "Margin", "Coreset", "KAFAL"):
        assert label in table, table
    metrics = pd.read_parquet(project / "results/tiny_multilabel/metrics.parquet")
    final = metrics[metrics["metric"] == "final_test_acc"]
    assert sorted(final["strategy"].unique()) == sorted(STRATEGIES)
    assert sorted(final["labelled_ratio"].unique()) == [20.0, 30.0]
    assert final["value"].between(0, 100).all() and final["value"].max() > 60  # the patches are learnable
    summary = (project / "results/test-reports/tiny_multilabel/table_accuracy.md").read_text()
    assert "Final-round test mean AUC (%)" in summary
    log = next((project / "logs/tiny_multilabel/train").rglob("kafal/cycle2.log")).read_text()
    assert "test_mean_auc" in log and "final test mean AUC" in log and "KCFU" in log
    query = next((project / "logs/tiny_multilabel/query").rglob("kafal/cycle2.log")).read_text()
    assert "method ksas" in query


def test_the_recorded_mean_auc_is_the_saved_models(multilabel_project):
    """Recompute the cycle-1 mean AUC from its saved global model and the partition's test images."""
    from fal.config.datasets import DatasetSpec
    from fal.data.images import ImageBank
    from fal.federated.models import build_model

    project, arrays = multilabel_project
    run = next((project / "results/tiny_multilabel").glob("chestfix-*/seed1"))
    partition = pd.read_parquet(run / "partition.parquet")
    test = partition[partition["split"] == "test"].sort_values("position")
    source = test["source_index"].to_numpy()
    spec = DatasetSpec("chestfix", "chestfix", 14, 1, 28, (0.5,), (0.5,), False, "Chest fixture", multi_label=True)
    model = build_model("cnn4conv", spec, 0)
    model.load_state_dict(torch.load(run / "init/cycle1/model.pt", weights_only=True))
    model.eval()
    bank = ImageBank(arrays["test_images"][source][:, None], (0.5,), (0.5,), "cpu")
    with torch.no_grad():
        logits, _ = model(bank.batch(torch.arange(len(source))))
    targets = arrays["test_labels"][source]
    aucs = [
        roc_auc_score(targets[:, k], logits[:, k].numpy())
        for k in range(LABELS)
        if 0 < targets[:, k].sum() < len(targets)
    ]
    metrics = pd.read_parquet(project / "results/tiny_multilabel/metrics.parquet")
    final = metrics[(metrics["metric"] == "final_test_acc") & (metrics["strategy"] == "kafal")]
    recorded = final[final["cycle"] == 1]["value"].unique()
    assert len(recorded) == 1 and recorded[0] == pytest.approx(100 * np.mean(aucs), abs=1e-4)
    # the partition placed each training image by its rarest label (class 14: no label)
    train = partition[partition["split"] == "train"].sort_values("position")
    hot = arrays["train_labels"][train["source_index"].to_numpy()]
    for label, row in zip(train["label"], hot):
        assert (row.sum() == 0 and label == LABELS) or row[label] == 1
