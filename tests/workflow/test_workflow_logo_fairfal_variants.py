"""LoGo, all six ensembles of its Table 4 and two FairFAL ablation variants through the whole DAG once, on a tiny
Fashion-MNIST-LT setting (one Snakemake invocation)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import run_tiny_study, tiny_study_config

pytestmark = pytest.mark.workflow

STRATEGIES = tiny_study_config("tiny4b")["studies"]["tiny4b"]["strategies"]


def test_logo_ensembles_and_fairfal_variants_end_to_end(tmp_path, data_cache):
    project = run_tiny_study(tmp_path, data_cache, "tiny4b")

    metrics = pd.read_parquet(project / "results/tiny4b/metrics.parquet")
    final = metrics[metrics["metric"] == "final_test_acc"]
    assert sorted(final["strategy"].unique()) == sorted(STRATEGIES)
    assert sorted(final["labelled_ratio"].unique()) == [20.0, 40.0]
    names = set(metrics["metric"])
    assert {"logo_nonempty_clusters", "finetuned_model_epochs", "fairfal_chosen_global"} <= names
    # the M(k) ablation has no class-wise step, so no quotas; the kappa-2 variant has them
    quotas = metrics[metrics["metric"] == "fairfal_quota"]
    assert set(quotas["strategy"]) == {"fairfal_kappa2"}
    table = (project / "results/test-reports/tiny4b/table_accuracy.md").read_text()
    for label in (
        "LoGo",
        "Ens. Rank + Entropy",
        "Ens. Rank + BADGE",
        "Fine-tuning + Entropy",
        "FairFAL: M(k) entropy",
        "FairFAL kappa=2",
    ):
        assert label in table
