"""Long-tailed class counts (reference-spec §1.3) and budgets (§2.1–§2.2)."""

import numpy as np
import pytest

from fal.config.budgets import compute_budget, cycle_ratios
from fal.config.datasets import longtail_counts
from fal.data.longtail import balanced_test_subset, select_longtail


def test_fmnist_lt_counts_match_spec():
    counts = longtail_counts(60000, 10, 20)
    assert counts == [6000, 4301, 3083, 2210, 1584, 1135, 814, 583, 418, 300]
    assert sum(counts) == 20428


def test_cifar10_lt_counts_match_spec():
    counts = longtail_counts(50000, 10, 20)
    assert counts == [5000, 3584, 2569, 1842, 1320, 946, 678, 486, 348, 250]
    assert sum(counts) == 17023


def test_cifar100_lt_counts_match_spec():
    counts = longtail_counts(50000, 100, 20)
    assert counts[:5] == [500, 485, 470, 456, 442]
    assert counts[-5:] == [28, 27, 26, 25, 25]
    assert sum(counts) == 15907


def test_reduced_head_size_keeps_profile():
    counts = longtail_counts(60000, 10, 20, img_max=880)
    assert counts[0] == 880 and counts[-1] == 44
    assert sum(counts) == 2993


def test_rho_below_one_is_rejected():
    with pytest.raises(ValueError, match="rho"):
        longtail_counts(60000, 10, 0.5)


def test_select_longtail_is_class_contiguous_and_seeded():
    labels = np.repeat(np.arange(3), 10)
    counts = [10, 5, 2]
    a = select_longtail(labels, counts, np.random.RandomState(1))
    b = select_longtail(labels, counts, np.random.RandomState(1))
    c = select_longtail(labels, counts, np.random.RandomState(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert labels[a].tolist() == [0] * 10 + [1] * 5 + [2] * 2
    assert len(set(a.tolist())) == 17


def test_balanced_test_subset_takes_first_per_class():
    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2])
    assert balanced_test_subset(labels, None).tolist() == list(range(8))
    assert balanced_test_subset(labels, 2).tolist() == [0, 1, 2, 3, 6, 7]
    with pytest.raises(ValueError, match="test_per_class"):
        balanced_test_subset(labels, 3)


@pytest.mark.parametrize(
    "num_train, reference, per_client",
    [
        (20428, 20400, 102),  # FMNIST-LT rho 20
        (17023, 17000, 85),  # CIFAR-10-LT
        (15907, 15900, 79),  # CIFAR-100-LT: 79.5 truncated
        (97477, 97500, 487),  # OCTMNIST: 487.5 truncated
        (7007, 7000, 35),  # DermaMNIST
        (50000, 50000, 250),  # balanced CIFAR-10
    ],
)
def test_budgets_match_spec_table(num_train, reference, per_client):
    budget = compute_budget(num_train, 10, 0.05, 0.05, 0.45)
    assert budget.reference_size == reference
    assert budget.per_client_query == per_client
    assert budget.per_client_initial == per_client
    assert budget.num_cycles == 9
    assert [budget.ratio_percent(t) for t in (3, 5, 7, 9)] == [15, 25, 35, 45]


def test_budget_with_5_and_20_clients():
    assert compute_budget(20428, 5, 0.05, 0.05, 0.45).per_client_query == 204
    assert compute_budget(20428, 20, 0.05, 0.05, 0.45).per_client_query == 51


def test_cycle_schedule_follows_official_loop():
    # float accumulation with round(·, 2) in the loop guard, as the official loop does
    assert len(cycle_ratios(0.05, 0.05, 0.45)) == 9
    assert len(cycle_ratios(0.1, 0.1, 0.3)) == 3
    with pytest.raises(ValueError, match="end_ratio"):
        cycle_ratios(0.2, 0.1, 0.1)
