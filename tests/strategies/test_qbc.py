"""Query by committee: vote entropy, consensus KL and the ranking against hand computations; the
committee through the real query stage honours the query contract."""

import math

import numpy as np
import pytest
import torch
from helpers import assert_query_contract, query, trained_setting

from fal.config.base import ConfigError
from fal.plan.strategies import StrategyEntry
from fal.strategies.methods.qbc import consensus_entropy, kl_to_mean, rank, vote_entropy


def test_vote_entropy_by_hand():
    votes = np.array([[0, 0, 0], [0, 1, 2], [0, 0, 1]])
    expected = [0.0, math.log(3), -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))]
    assert vote_entropy(votes, 3) == pytest.approx(expected)


def test_kl_to_mean_and_consensus_entropy_by_hand():
    probs = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]]], dtype=torch.float64)  # 2 members, 1 sample
    kl_first = math.log(1 / 0.75)
    kl_second = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kl_to_mean(probs).item() == pytest.approx((kl_first + kl_second) / 2)
    assert consensus_entropy(probs).item() == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    agree = torch.tensor([[[0.2, 0.8]], [[0.2, 0.8]]], dtype=torch.float64)
    assert kl_to_mean(agree).item() == pytest.approx(0.0)


def test_rank_breaks_ties_by_consensus_entropy_then_pool_order():
    primary = np.array([1.0, 1.0, 0.5, 1.0])
    tie_break = np.array([0.1, 0.3, 0.9, 0.3])
    assert rank(primary, tie_break, 3).tolist() == [1, 3, 0]


def test_options_are_checked_when_the_config_is_read():
    with pytest.raises(ConfigError, match="strategies.q.options.committee_size: must be a whole number >= 2"):
        StrategyEntry.from_dict(
            "q", {"method": "qbc", "query_model": "local", "options": {"committee_size": 1}}, "strategies.q"
        )


@pytest.fixture(scope="module")
def setting_state():
    return trained_setting(num_clients=3, per_class=60, test_per_class=10, rounds=1, local_model_epochs=3)


@pytest.mark.parametrize("disagreement", ["vote_entropy", "kl_to_mean"])
@pytest.mark.parametrize("query_model", ["global", "local"])
def test_committee_through_the_query_stage(setting_state, query_model, disagreement):
    spec = {"method": "qbc", "query_model": query_model, "options": {"disagreement": disagreement}}
    out = query(setting_state, f"qbc_{query_model[0]}", spec)
    assert_query_contract(setting_state, out)
    assert query(setting_state, f"qbc_{query_model[0]}", spec).labelled.equals(out.labelled)  # deterministic
    accuracies = out.diagnostics[out.diagnostics["metric"] == "qbc_member_train_acc"]
    assert len(accuracies) == 3 * 2  # two extra members per client
