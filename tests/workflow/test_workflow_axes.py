"""Protocol axes: a study's protocol may list backbones, FL algorithms or client counts; each value is its
own setting (own path, own shared cycle 1, own label) and the tables and figures compare along it.
Runs .test/config/axes.yaml (three tiny studies, one axis each) through the DAG on the CPU."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch
import yaml
from helpers import run_tiny_study, tiny_study_config

from fal.config.base import ConfigError
from fal.plan.study import resolve_study

pytestmark = pytest.mark.workflow


def test_axes_resolve_to_one_setting_per_value():
    config = tiny_study_config("axes")
    models = resolve_study(config, "axes_models")
    assert [(s.model, s.id.split("-")[-1]) for s in models.settings] == [
        ("cnn4conv", "cnn4conv"),
        ("mobilenet", "mobilenet"),
    ]
    assert [models.protocol_of(s.id).model for s in models.settings] == ["cnn4conv", "mobilenet"]
    algorithms = resolve_study(config, "axes_algorithms")
    assert [algorithms.protocol_of(s.id).fl_algorithm for s in algorithms.settings] == ["fedavg", "fedprox"]
    clients = resolve_study(config, "axes_clients")
    assert [s.num_clients for s in clients.settings] == [3, 4]
    assert all(s.model is None and "model" not in s.to_dict() for s in clients.settings)  # no axis, old params
    bad = yaml.safe_load(yaml.safe_dump(config))
    bad["protocol"]["model"] = ["cnn4conv", "resnet18"]
    with pytest.raises(ConfigError, match="protocol.model: a list is allowed only in a study"):
        resolve_study(bad, "axes_models")
    bad = yaml.safe_load(yaml.safe_dump(config))
    bad["studies"]["axes_models"]["protocol"]["model"] = ["cnn4conv", "cnn4conv"]
    with pytest.raises(ConfigError, match="distinct values"):
        resolve_study(bad, "axes_models")


@pytest.fixture(scope="module")
def axes_project(tmp_path_factory, data_cache):
    return run_tiny_study(tmp_path_factory.mktemp("axes"), data_cache, "axes")


def test_backbones_are_compared_in_table9(axes_project):
    table = (axes_project / "results/test-reports/tables/axes_models/table9.md").read_text()
    assert re.search(r"^\| \| cnn4conv \| mobilenet \|$", table, re.M), table
    assert re.search(r"^\| Random \| [\d.]+ \| [\d.]+ \|$", table, re.M), table
    run = axes_project / "results/axes_models"
    cnn = torch.load(next(run.glob("*-cnn4conv/seed1/init/cycle1/model.pt")), weights_only=True)
    mobile = torch.load(next(run.glob("*-mobilenet/seed1/init/cycle1/model.pt")), weights_only=True)
    assert cnn.keys() != mobile.keys()  # really two backbones, each with its own shared cycle 1


def test_fl_algorithms_and_client_counts_are_their_own_settings(axes_project):
    logs = axes_project / "logs/axes_algorithms/train"
    assert "of fedprox" in next(logs.glob("*-fedprox/seed1/init/cycle1.log")).read_text()
    assert "of fedavg" in next(logs.glob("*-fedavg/seed1/init/cycle1.log")).read_text()
    metrics = pd.read_parquet(axes_project / "results/axes_clients/metrics.parquet")
    assert sorted(metrics["setting"].unique()) == [
        "fmnist_lt-rho20-alpha100-K3-max60-test10",
        "fmnist_lt-rho20-alpha100-K4-max60-test10",
    ]
    for figure in ("axes_algorithms/figure5", "axes_clients/figure6"):
        assert (axes_project / f"results/test-reports/figures/{figure}.png").stat().st_size > 10_000


def test_kafal_schedule_runs_through_the_dag(axes_project):
    log = next((axes_project / "logs/axes_kafal_schedule/train").glob("*/seed1/kafal_full/cycle2.log")).read_text()
    assert "KAFAL's federated schedule: client optimisers per cycle, lr per client_epoch (milestones [2])" in log
    assert "sequential trainer" in log and "of kcfu" in log
    table = (axes_project / "results/test-reports/tables/axes_kafal_schedule/table5_6.md").read_text()
    assert "KAFAL" in table and "Random" in table and "LL4AL" in table
    # LL4AL: its own cycle 1 with the loss module under KCFU, queried with the clients' last-round models.
    ll4al = axes_project / "logs/axes_kafal_schedule/train"
    cycle1 = next(ll4al.glob("*/seed1/ll4al_l_lastround/cycle1.log")).read_text()
    assert "a loss-prediction module (LL4AL" in cycle1 and "of kcfu" in cycle1
    query = next((axes_project / "logs/axes_kafal_schedule/query").glob("*/seed1/ll4al_l_lastround/cycle2.log"))
    assert "method ll4al, query model local, local model last_round" in query.read_text()
