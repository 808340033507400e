"""Query strategies: the contract (exact budget, no duplicates, never labelled, deterministic) for
every registered method, through the real query stage on a small synthetic setting."""

import logging

import numpy as np
import pytest

from fal.config import FidelityConfig, ProtocolConfig, SettingConfig, StrategyConfig
from fal.data.build import build_partition, labelled_lists
from fal.federated.stage import run_training_stage
from fal.strategies.stage import StrategyContractError, check_outcome, run_query_stage
from fal.strategies.base import ClientPool, QueryOutcome
from helpers import synthetic_arrays

LOG = logging.getLogger("test")
STRATEGIES = {
    "random": {"method": "random"},
    "entropy_g": {"method": "entropy", "query_model": "global"},
    "entropy_l": {"method": "entropy", "query_model": "local"},
    "fairfal": {"method": "fairfal"},
}


@pytest.fixture(scope="module")
def setting_state():
    """A 4-client, 4-class setting after one trained cycle (octmnist's shape: 1 channel, 4 classes)."""
    arrays = synthetic_arrays(num_classes=4, per_class=100, test_per_class=20)
    setting = SettingConfig(dataset="octmnist", alpha=0.5, num_clients=4)
    protocol = ProtocolConfig.from_dict(
        {"num_clients": 4, "rounds": 2, "local_epochs": 1, "lr": 0.05, "initial_ratio": 0.1, "query_ratio": 0.1, "end_ratio": 0.3,
         "local_model": {"epochs": 5}}
    )
    fidelity = FidelityConfig()
    part = build_partition(setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels)
    trained = run_training_stage(setting=setting, protocol=protocol, fidelity=fidelity, seed=1, cycle=1, arrays=arrays,
                                 partition=part.partition, labelled=part.initial_labelled, device="cpu", log=LOG)
    return arrays, setting, protocol, fidelity, part, trained.result.state_dict


def run(setting_state, name, seed=1, state=None, fidelity=None):
    arrays, setting, protocol, default_fidelity, part, model = setting_state
    strategy = StrategyConfig.from_dict(name, STRATEGIES[name], name)
    return run_query_stage(setting=setting, protocol=protocol, fidelity=fidelity or default_fidelity, strategy=strategy, seed=seed, cycle=1,
                           arrays=arrays, partition=part.partition, labelled=part.initial_labelled, global_state=model,
                           previous_state=state or {}, device="cpu", log=LOG)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(setting_state, name):
    arrays, setting, protocol, _, part, _ = setting_state
    out = run(setting_state, name)
    budget = part.budget.per_client_query
    before = labelled_lists(part.initial_labelled, setting.num_clients)
    after = labelled_lists(out.labelled, setting.num_clients)
    train = part.partition[part.partition["split"] == "train"]
    for client in range(setting.num_clients):
        new = after[client][:budget]
        assert len(after[client]) == len(before[client]) + budget  # exact budget
        assert len(np.unique(after[client])) == len(after[client])  # no duplicates
        assert not set(new.tolist()) & set(before[client].tolist())  # never an already-labelled sample
        assert set(new.tolist()) <= set(train.loc[train["client"] == client, "position"].tolist())  # own pool only
        assert np.array_equal(after[client][budget:], before[client])  # old labels kept, in order
    queried = out.diagnostics[out.diagnostics["metric"] == "queried_count"]
    assert queried["value"].sum() == budget * setting.num_clients
    again = run(setting_state, name)
    assert again.labelled.equals(out.labelled)  # same generator -> same index set


def test_random_depends_on_seed(setting_state):
    a = run(setting_state, "random", seed=1).labelled
    b = run(setting_state, "random", seed=2).labelled
    assert not a.equals(b)


def test_entropy_g_and_l_use_different_models(setting_state):
    g = run(setting_state, "entropy_g").labelled
    l = run(setting_state, "entropy_l").labelled
    assert not g.equals(l)


def test_fairfal_diagnostics_and_state(setting_state):
    out = run(setting_state, "fairfal")
    metrics = set(out.diagnostics["metric"])
    assert {"fairfal_s", "fairfal_d", "fairfal_gamma", "fairfal_gamma_bar", "fairfal_m1_global", "fairfal_m2_global",
            "fairfal_quota", "local_model_epochs", "client_test_acc_global", "client_test_acc_local"} <= metrics
    assert 0 < out.state["gamma_bar"] <= 1 and out.state["gamma_bar_cycle"] == 1
    # with a stored gamma-bar (faithful: fixed after the first query) the stored value is used
    forced = run(setting_state, "fairfal", state={"gamma_bar": 0.99, "gamma_bar_cycle": 1})
    gb = forced.diagnostics[forced.diagnostics["metric"] == "fairfal_gamma_bar"]["value"]
    assert (gb == 0.99).all()
    m2 = forced.diagnostics[forced.diagnostics["metric"] == "fairfal_m2_global"]["value"]
    assert (m2 == 0.0).all()  # gamma-bar >= 0.5 -> M2 is the local model (official rule)
    paper = run(setting_state, "fairfal", state={"gamma_bar": 0.99}, fidelity=FidelityConfig.from_dict({"fairfal_m2_model": "paper"}))
    assert (paper.diagnostics[paper.diagnostics["metric"] == "fairfal_m2_global"]["value"] == 1.0).all()
    every = run(setting_state, "fairfal", state={"gamma_bar": 0.99}, fidelity=FidelityConfig.from_dict({"fairfal_gamma_bar": "every_query"}))
    assert every.state["gamma_bar"] == out.state["gamma_bar"]  # recomputed, stored value ignored


def test_contract_violations_are_reported():
    pools = [ClientPool(client=0, labelled=np.array([1, 2]), labelled_labels=np.array([0, 1]), unlabelled=np.array([3, 4, 5]))]
    with pytest.raises(StrategyContractError, match="budget is 2"):
        check_outcome(QueryOutcome(selected={0: np.array([3])}), pools, 2, "x")
    with pytest.raises(StrategyContractError, match="duplicate"):
        check_outcome(QueryOutcome(selected={0: np.array([3, 3])}), pools, 2, "x")
    with pytest.raises(StrategyContractError, match="labelled or not in the client's pool"):
        check_outcome(QueryOutcome(selected={0: np.array([1, 3])}), pools, 2, "x")
