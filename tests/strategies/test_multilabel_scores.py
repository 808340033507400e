"""Multi-label query scores (KAFAL Table 4's strategies on sigmoid outputs), each by hand on a tiny example."""

import math

import numpy as np
import pytest
import torch

from fal.strategies.methods.ksas import ksas_multilabel_scores, ksas_scores
from fal.strategies.multilabel import mean_label_margin, negative_mean_binary_entropy

PROBS = torch.tensor([[0.5, 1.0], [0.9, 0.2]], dtype=torch.float64)


def h(p):
    return -sum(x * math.log(x) for x in (p, 1 - p) if x > 0)


def test_entropy_is_minus_the_mean_binary_entropy():
    scores = negative_mean_binary_entropy(PROBS)
    assert scores.tolist() == pytest.approx([-(math.log(2) + 0.0) / 2, -(h(0.9) + h(0.2)) / 2])
    assert scores.argmin() == 1  # two doubtful labels outweigh one coin flip beside a sure label


def test_margin_is_the_mean_gap_between_a_labels_two_outcomes():
    assert mean_label_margin(PROBS).tolist() == pytest.approx([(0 + 1) / 2, (0.8 + 0.6) / 2])


def test_ksas_log_odds_by_hand():
    local = torch.tensor([[0.0, 2.0, -1.0]])
    glob = torch.tensor([[math.log(3), 2.0, 1.0]])
    # label 0: n+ = n- = 2, no shift: p = 0.5, q = 0.75; label 1: identical logits, D = 0;
    # label 2: the client has no positive of it, so it is left out (as a class the client lacks).
    d0 = (
        0.5 * math.log(0.5 / 0.75)
        + 0.5 * math.log(0.5 / 0.25)
        + 0.75 * math.log(0.75 / 0.5)
        + 0.25 * math.log(0.25 / 0.5)
    )
    pos, neg = np.array([2, 5, 0]), np.array([2, 1, 4])
    assert ksas_multilabel_scores(local, glob, pos, neg, 1.0).item() == pytest.approx(d0)
    # n+ = 3, n- = 1 on label 0: logits shift by λ·log 3, so p = 0.75, q = 0.9
    d1 = (
        0.75 * math.log(0.75 / 0.9)
        + 0.25 * math.log(0.25 / 0.1)
        + 0.9 * math.log(0.9 / 0.75)
        + 0.1 * math.log(0.1 / 0.25)
    )
    assert ksas_multilabel_scores(local, glob, np.array([3, 5, 0]), np.array([1, 1, 4]), 1.0).item() == pytest.approx(
        d1
    )
    # λ = 0 (vanilla KL) keeps every label, label 2 included: sigmoid(-1) against sigmoid(1)
    p2, q2 = 1 / (1 + math.e), 1 / (1 + math.exp(-1))
    d2 = (p2 - q2) * math.log(p2 / q2) + (q2 - p2) * math.log((1 - p2) / (1 - q2))  # symmetric Bernoulli KL
    assert ksas_multilabel_scores(local, glob, pos, neg, 0.0).item() == pytest.approx(d0 + d2)


def test_ksas_softmax_reading_is_the_single_label_rule_on_positive_counts():
    local, glob = torch.randn(4, 3), torch.randn(4, 3)
    pos = np.array([3, 1, 0])
    expected = ksas_scores(local, glob, pos, 1.0)
    assert torch.equal(ksas_multilabel_scores(local, glob, pos, np.array([1, 1, 1]), 1.0, "softmax"), expected)
    with pytest.raises(ValueError, match="log_odds"):
        ksas_multilabel_scores(local, glob, pos, pos, 1.0, "other")
