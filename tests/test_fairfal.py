"""FairFAL's pieces against hand computations from the paper's formulas and reference-spec §6.13."""

import numpy as np
import pytest
import torch

from fal.strategies.fairfal import (
    balanced_multiset,
    class_quotas,
    discrepancy,
    gradient_embedding,
    imbalance_ratio,
    prototype_pseudo_labels,
    selection_score,
    two_stage_select,
    uncertainty,
)
from fal.strategies.kcenter import kcenter_greedy


def test_quotas_fmnist_example_from_spec():
    # b = 102, C = 10, three labelled classes with buckets 500 > 300 > 200: 35/34/33 (§6.13 step 8)
    sizes = [500, 300, 200] + [0] * 7
    quotas = class_quotas(sizes, 102)
    assert quotas[:3] == [35, 34, 33] and sum(quotas) == 102 and quotas[3:] == [0] * 7


def test_quotas_cifar100_example_from_spec():
    # base 0: the 79 largest buckets get 1; empty ones release their unit round-robin
    sizes = [100, 80, 60, 40, 20] + [0] * 95
    quotas = class_quotas(sizes, 79)
    assert quotas[:5] == [16, 16, 16, 16, 15] and sum(quotas) == 79


def test_quotas_skip_full_classes_in_round_robin():
    assert class_quotas([3, 100, 0, 0], 20) == [3, 17, 0, 0]


def test_quotas_ties_go_to_lower_class_index():
    assert class_quotas([5, 5, 5], 4) == [2, 1, 1]


def test_balanced_multiset_equalises_classes_deterministically():
    labels = np.array([0, 0, 0, 1, 2, 2])
    idx = balanced_multiset(labels)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3]
    assert sorted(set(idx[labels[idx] == 0].tolist())) == [0, 1, 2]  # largest class: a permutation
    assert np.array_equal(idx, balanced_multiset(labels))  # fixed default_rng(42)


def test_discrepancy_eq5_by_hand():
    g = np.array([0.5, 0.5, 0.0])
    l = np.array([0.25, 0.75, 0.0])
    # (1/C) Σ |g−l| / (g+l) = (0.25/0.75 + 0.25/1.25 + 0) / 3, with 0/0 = 0
    assert discrepancy(g, l) == pytest.approx((1 / 3 + 0.2) / 3, rel=1e-6)
    assert discrepancy(g, g) == 0.0


def test_imbalance_ratio_eq4_by_hand():
    assert imbalance_ratio(np.array([0.6, 0.3, 0.1]), np.array([0, 1])) == pytest.approx(0.5)
    assert imbalance_ratio(np.array([0.6, 0.3, 0.1]), np.array([0, 1, 2])) == pytest.approx(1 / 6)


def test_selection_score_eq6():
    assert selection_score(0.2, 0.4, 0.5) == pytest.approx(1 - (0.2 + 0.4) / 2)
    assert selection_score(0.2, 0.4, 0.3) == pytest.approx(1 - 0.7 * 0.6 + 0.4 * 0.08)


def test_gradient_embedding_blocks():
    z = torch.tensor([[1.0, 2.0]])
    p = torch.tensor([[0.7, 0.3]])
    emb = gradient_embedding(z, p, np.array([0]))
    assert np.allclose(emb, [[0.3, 0.6, -0.3, -0.6]])


def test_uncertainties():
    uniform = torch.full((1, 4), 0.25)
    sure = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert uncertainty(uniform, "entropy", 4)[0] == pytest.approx(1.0, abs=1e-6)
    assert uncertainty(sure, "entropy", 4)[0] == pytest.approx(0.0, abs=1e-6)
    assert uncertainty(torch.tensor([[0.6, 0.3, 0.1, 0.0]]), "margin", 4)[0] == pytest.approx(0.7)
    assert uncertainty(torch.tensor([[0.6, 0.3, 0.1, 0.0]]), "least_confidence", 4)[0] == pytest.approx(0.4)


def test_pseudo_labels_cosine_vs_inner_product():
    # class 0's prototype is a short mean of spread-out unit vectors; class 1's is a long one
    protos = torch.tensor([[0.3, 0.0], [0.0, 0.9], [0.0, 0.0]])
    counts = torch.tensor([2.0, 2.0, 0.0])
    z = torch.tensor([[1.0, 0.8]])  # closer in angle to class 0, but class 1's prototype is longer
    assert prototype_pseudo_labels(z, protos, counts, 1.5, "cosine").tolist() == [0]
    assert prototype_pseudo_labels(z, protos, counts, 1.5, "inner").tolist() == [1]
    # absent classes (count 0) are never chosen
    z2 = torch.tensor([[-1.0, -1.0]])
    assert prototype_pseudo_labels(z2, protos, counts, 1.5, "cosine").tolist()[0] in (0, 1)


def brute_force_kcenter(points, k, anchors):
    centres = list(anchors)
    picked = []
    for _ in range(k):
        best, best_d = None, -1.0
        for i, x in enumerate(points):
            if i in picked:
                continue
            d = min(float(((x - c) ** 2).sum()) for c in centres) if centres else np.inf
            if d > best_d:
                best, best_d = i, d
        picked.append(best)
        centres.append(points[best])
    return picked


@pytest.mark.parametrize("seed", range(5))
def test_kcenter_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(40, 6))
    anchors = rng.normal(size=(3, 6))
    assert kcenter_greedy(points, 7, anchors=anchors).tolist() == brute_force_kcenter(points, 7, anchors)
    # without anchors the first pick is given, then farthest-first
    got = kcenter_greedy(points, 5, first=4).tolist()
    assert got[0] == 4 and got[1:] == brute_force_kcenter(points, 5, [points[4]])[:4]


def test_kcenter_small_inputs():
    pts = np.zeros((3, 2))
    assert kcenter_greedy(pts, 5).tolist() == [0, 1, 2]
    assert kcenter_greedy(pts, 0).tolist() == []


def test_two_stage_takes_most_uncertain_then_diverse():
    # class 0 bucket: members 0..5; the 4 most uncertain are 2, 3, 4, 5 (kappa 2 × quota 2)
    pseudo = np.array([0, 0, 0, 0, 0, 0, 1])
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.85, 0.7, 0.5])
    emb = np.array([[0.0], [0.0], [10.0], [10.1], [0.2], [5.0], [3.0]])
    anchors = np.array([[0.0], [9.0]])
    labels = np.array([0, 1])
    chosen = two_stage_select(pseudo, scores, emb, anchors, labels, [2, 0], kappa=2.0)
    # candidates {2, 3, 4, 5}; anchor of class 0 at 0.0: farthest are 3 (10.1), then 5 (5.0 from both)
    assert chosen.tolist() == [3, 5]
