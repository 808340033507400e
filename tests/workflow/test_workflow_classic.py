"""Every classic strategy (G and L) through the Snakemake DAG once, in one invocation, on a tiny
Fashion-MNIST-LT setting (1 setting, 1 seed, 2 cycles, 1 round)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import run_tiny_study, tiny_study_config

pytestmark = pytest.mark.workflow

CLASSIC = tiny_study_config("classic")["studies"]["classic"]["strategies"]


def test_every_classic_strategy_runs_through_the_workflow(tmp_path, data_cache):
    project = run_tiny_study(tmp_path, data_cache, "classic")
    metrics = pd.read_parquet(project / "results/classic/metrics.parquet")
    final = metrics[metrics["metric"] == "final_test_acc"]
    assert sorted(final["strategy"].unique()) == sorted(CLASSIC)
    assert sorted(final["labelled_ratio"].unique()) == [20.0, 40.0]
    assert final["value"].between(0, 100).all()
    queried = metrics[metrics["metric"] == "queried_count"].groupby("strategy")["value"].sum()
    assert queried.nunique() == 1 and queried.iloc[0] > 0  # every strategy queried the same exact budget
    table = (project / "results/test-reports/classic/table_accuracy.md").read_text()
    for label in ("Margin", "Conf", "Coreset", "BADGE", "GCNAL", "ALFA-Mix"):
        assert label in table
