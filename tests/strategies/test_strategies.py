"""Query strategies: the contract (exact budget, no duplicates, never labelled, deterministic) for
every registered method, through the real query stage on a small synthetic setting."""

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import assert_query_contract, query, trained_setting

from fal.config.fidelity import FidelityConfig
from fal.strategies.base import ClientPool, QueryOutcome
from fal.strategies.stage import StrategyContractError, check_outcome

STRATEGIES = {
    "random": {"method": "random"},
    "entropy_g": {"method": "entropy", "query_model": "global"},
    "entropy_l": {"method": "entropy", "query_model": "local"},
    "fairfal": {"method": "fairfal"},
}


@pytest.fixture(scope="module")
def setting_state():
    """A 4-client, 4-class setting after one trained cycle (octmnist's shape: 1 channel, 4 classes)."""
    return trained_setting(
        num_clients=4, per_class=100, test_per_class=20, rounds=2, local_epochs=1, local_model_epochs=5
    )


def run(setting_state, name, seed=1, state=None, fidelity=None):
    return query(setting_state, name, STRATEGIES[name], seed=seed, previous_state=state, fidelity=fidelity)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(setting_state, name):
    out = run(setting_state, name)
    assert_query_contract(setting_state, out)
    queried = out.diagnostics[out.diagnostics["metric"] == "queried_count"]
    assert queried["value"].sum() == setting_state.part.budgets.query[0] * setting_state.setting.num_clients
    again = run(setting_state, name)
    assert again.labelled.equals(out.labelled)  # same generator -> same index set


def test_random_depends_on_seed(setting_state):
    a = run(setting_state, "random", seed=1).labelled
    b = run(setting_state, "random", seed=2).labelled
    assert not a.equals(b)


def test_entropy_g_and_l_use_different_models(setting_state):
    g = run(setting_state, "entropy_g").labelled
    loc = run(setting_state, "entropy_l").labelled
    assert not g.equals(loc)


def test_fairfal_diagnostics_and_state(setting_state):
    out = run(setting_state, "fairfal")
    metrics = set(out.diagnostics["metric"])
    assert {
        "fairfal_s",
        "fairfal_d",
        "fairfal_gamma",
        "fairfal_gamma_bar",
        "fairfal_m1_global",
        "fairfal_m2_global",
        "fairfal_quota",
        "local_model_epochs",
        "client_test_acc_global",
        "client_test_acc_local",
    } <= metrics
    assert 0 < out.state["gamma_bar"] <= 1 and out.state["gamma_bar_cycle"] == 1
    # with a stored gamma-bar (faithful: fixed after the first query) the stored value is used
    forced = run(setting_state, "fairfal", state={"gamma_bar": 0.99, "gamma_bar_cycle": 1})
    gb = forced.diagnostics[forced.diagnostics["metric"] == "fairfal_gamma_bar"]["value"]
    assert (gb == 0.99).all()
    m2 = forced.diagnostics[forced.diagnostics["metric"] == "fairfal_m2_global"]["value"]
    assert (m2 == 0.0).all()  # gamma-bar >= 0.5 -> M2 is the local model (official rule)
    paper = run(
        setting_state,
        "fairfal",
        state={"gamma_bar": 0.99},
        fidelity=FidelityConfig.from_dict({"fairfal_m2_model": "paper"}),
    )
    assert (paper.diagnostics[paper.diagnostics["metric"] == "fairfal_m2_global"]["value"] == 1.0).all()
    every = run(
        setting_state,
        "fairfal",
        state={"gamma_bar": 0.99},
        fidelity=FidelityConfig.from_dict({"fairfal_gamma_bar": "every_query"}),
    )
    assert every.state["gamma_bar"] == out.state["gamma_bar"]  # recomputed, stored value ignored


def test_random_takes_the_whole_pool_when_it_is_smaller_than_the_budget():
    """The contract allows a pool smaller than the budget (``dir_balance_logo`` can leave one); Random
    then takes all of it instead of failing."""
    from fal.strategies.methods.random import query as random_query

    pool = ClientPool(
        client=0,
        labelled=np.array([1, 2]),
        labelled_labels=np.array([0, 1]),
        unlabelled=np.array([7, 3, 5]),
        budget=5,
    )
    step = SimpleNamespace(pools=[pool], client_rng=lambda c: np.random.default_rng(c))
    out = random_query(step, None)
    assert sorted(out.selected[0].tolist()) == [3, 5, 7]
    check_outcome(out, [pool], "random")


def test_contract_violations_are_reported():
    pools = [
        ClientPool(
            client=0,
            labelled=np.array([1, 2]),
            labelled_labels=np.array([0, 1]),
            unlabelled=np.array([3, 4, 5]),
            budget=2,
        )
    ]
    with pytest.raises(StrategyContractError, match="budget is 2"):
        check_outcome(QueryOutcome(selected={0: np.array([3])}), pools, "x")
    with pytest.raises(StrategyContractError, match="duplicate"):
        check_outcome(QueryOutcome(selected={0: np.array([3, 3])}), pools, "x")
    with pytest.raises(StrategyContractError, match="labelled or not in the client's pool"):
        check_outcome(QueryOutcome(selected={0: np.array([1, 3])}), pools, "x")
