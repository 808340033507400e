"""The multi-label mean AUC (KAFAL Table 4) against AUCs counted by hand from score pairs."""

import math

import numpy as np
import pytest

from fal.stats.auc import mean_auc


def test_mean_auc_against_hand_counted_pairs():
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]])
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.5, 0.2], [0.3, 0.7, 0.3], [0.1, 0.2, 0.4]])
    result = mean_auc(targets, scores)
    # label 0: positives {0.9, 0.3}, negatives {0.8, 0.1}: of 4 pairs, 3 ranked right -> 0.75
    # label 1: positives {0.5, 0.7, 0.2}, negative {0.5}: a tie (1/2), a win, a loss -> 1.5 / 3 = 0.5
    # label 2: no positive -> no ROC curve, left out
    assert result.per_label[:2].tolist() == [0.75, 0.5] and math.isnan(result.per_label[2])
    assert result.mean == pytest.approx(0.625) and result.labels_averaged == 2
    # any monotone transform of the scores (logits instead of probabilities) gives the same AUCs
    logits = np.log(scores / (1 - scores))
    assert mean_auc(targets, logits).per_label[:2].tolist() == pytest.approx([0.75, 0.5])


def test_mean_auc_refuses_what_is_not_multi_hot():
    with pytest.raises(ValueError, match="multi-hot"):
        mean_auc(np.array([[2, 0], [0, 1]]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(samples, labels\)"):
        mean_auc(np.array([1, 0]), np.array([0.2, 0.1]))
    assert math.isnan(mean_auc(np.zeros((3, 2), dtype=int), np.zeros((3, 2))).mean)
