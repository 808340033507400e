"""LoGo, three of its ensembles and two FairFAL ablation variants through the whole DAG once, on a tiny
Fashion-MNIST-LT setting (one Snakemake invocation)."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import base_config, copy_project, snakemake

pytestmark = pytest.mark.workflow

STRATEGIES = ["logo", "ens_rank_entropy", "ens_rank_badge", "ft_entropy", "fairfal_ablation_model", "fairfal_kappa2"]


def test_logo_ensembles_and_fairfal_variants_end_to_end(tmp_path, data_cache):
    config = base_config()
    config["studies"] = {
        "tiny4b": {
            "description": "tiny check of LoGo, ensembles and FairFAL variants",
            "datasets": ["fmnist_lt"],
            "rho": [20],
            "alpha": [0.1],
            "num_clients": 4,
            "seeds": [1],
            "strategies": STRATEGIES,
            "protocol": {"num_clients": 4, "rounds": 1, "local_epochs": 1, "initial_ratio": 0.2, "query_ratio": 0.2, "end_ratio": 0.4,
                         "local_model": {"epochs": 2}},
            "data": {"lt_img_max": 60, "test_per_class": 5},
        }
    }
    config["run_studies"] = ["tiny4b"]
    config["paths"]["data_cache"] = str(data_cache)
    project = copy_project(tmp_path, config)
    snakemake(project, "all")

    metrics = pd.read_parquet(project / "results/tiny4b/metrics.parquet")
    final = metrics[metrics["metric"] == "final_test_acc"]
    assert sorted(final["strategy"].unique()) == sorted(STRATEGIES)
    assert sorted(final["labelled_ratio"].unique()) == [20.0, 40.0]
    names = set(metrics["metric"])
    assert {"logo_nonempty_clusters", "finetuned_model_epochs", "fairfal_chosen_global"} <= names
    # the M(k) ablation has no class-wise step, so no quotas; the kappa-2 variant has them
    quotas = metrics[metrics["metric"] == "fairfal_quota"]
    assert set(quotas["strategy"]) == {"fairfal_kappa2"}
    table = (project / "reports/tiny4b/table_accuracy.md").read_text()
    for label in ("LoGo", "Ens. Rank + Entropy", "Ens. Rank + BADGE", "Fine-tuning + Entropy", "FairFAL: M(k) entropy", "FairFAL kappa=2"):
        assert label in table
