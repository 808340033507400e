"""Client partitions (reference-spec §1.4–§1.5) on label vectors with the real class counts."""

import random

import numpy as np
import pytest
import torch

from fal.config.datasets import longtail_counts
from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.build import build_partition, client_pools, extend_labelled, labelled_lists
from fal.data.partition import dir_balance, dir_balance_logo
from fal.plan.catalog import dataset_spec

CLASS_COUNTS = {
    "fmnist_lt": longtail_counts(60000, 10, 20),
    "cifar10_lt": longtail_counts(50000, 10, 20),
    "cifar100_lt": longtail_counts(50000, 100, 20),
    "octmnist": [33484, 10213, 7754, 46026],
    "dermamnist": [228, 359, 769, 80, 779, 4693, 99],
}
EXPECTED_SIZES = {  # reference-spec §1.4, K = 10
    "fmnist_lt": [2043] * 8 + [2042] * 2,
    "cifar10_lt": [1703] * 3 + [1702] * 7,
    "cifar100_lt": [1591] * 7 + [1590] * 3,
    "octmnist": [9748] * 7 + [9747] * 3,
    "dermamnist": [701] * 7 + [700] * 3,
}


def class_sorted_labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def official_partition(labels, num_classes, alpha, proportions=None, flip_draws=None):
    return dir_balance(
        labels,
        10,
        num_classes,
        alpha,
        torch_generator=torch.Generator().manual_seed(0),
        py_random=random.Random(0),
        flip_draws=len(labels) if flip_draws is None else flip_draws,
        proportions=proportions,
    )


@pytest.mark.parametrize("dataset", sorted(CLASS_COUNTS))
@pytest.mark.parametrize("alpha", [0.1, 100.0])
def test_dir_balance_client_sizes_match_spec(dataset, alpha):
    counts = CLASS_COUNTS[dataset]
    labels = class_sorted_labels(counts)
    result = official_partition(labels, len(counts), alpha)
    assert [len(c) for c in result.clients] == EXPECTED_SIZES[dataset]
    assert result.counts.sum(axis=0).tolist() == list(counts)
    everyone = np.concatenate([np.asarray(c) for c in result.clients])
    assert len(everyone) == len(labels) and len(np.unique(everyone)) == len(labels)
    for client, members in enumerate(result.clients):
        assert np.bincount(labels[members], minlength=len(counts)).tolist() == result.counts[client].tolist()


def test_test_split_reuses_train_fractions_with_equal_sizes():
    labels = class_sorted_labels(CLASS_COUNTS["fmnist_lt"])
    train = official_partition(labels, 10, 0.1)
    test_labels = class_sorted_labels([1000] * 10)
    test = official_partition(test_labels, 10, 0.1, proportions=train.proportions, flip_draws=0)
    assert [len(c) for c in test.clients] == [1000] * 10
    # a client that has no training images of a class gets (almost) no test images of it
    absent = train.counts == 0
    assert test.counts[absent].sum() <= 0.05 * 10000


def test_dir_balance_depends_only_on_its_generators():
    labels = class_sorted_labels(CLASS_COUNTS["cifar10_lt"])
    a = official_partition(labels, 10, 0.1)
    b = official_partition(labels, 10, 0.1)
    c = dir_balance(labels, 10, 10, 0.1, torch_generator=torch.Generator().manual_seed(7), py_random=random.Random(7))
    assert a.clients == b.clients
    assert a.clients != c.clients


def test_heterogeneity_follows_alpha():
    labels = class_sorted_labels(CLASS_COUNTS["fmnist_lt"])
    non_iid = official_partition(labels, 10, 0.1).counts
    iid = official_partition(labels, 10, 100.0).counts
    classes_per_client = lambda x: (x > 0.05 * x.sum(axis=1, keepdims=True)).sum(axis=1).mean()  # noqa: E731
    assert classes_per_client(non_iid) < 5 < classes_per_client(iid)


def test_faithful_partition_is_seed_independent_and_corrected_is_not():
    labels = np.repeat(np.arange(10), 200)
    test_labels = np.repeat(np.arange(10), 20)
    setting = SettingConfig(dataset="fmnist", alpha=0.1)
    protocol = ProtocolConfig()

    def pools(fidelity, seed):
        out = build_partition(
            setting, protocol, fidelity, seed, labels, test_labels, spec=dataset_spec(setting.dataset)
        )
        return [p.tolist() for p in client_pools(out.partition, 10)]

    faithful, corrected = FidelityConfig.from_dict("faithful"), FidelityConfig.from_dict("corrected")
    assert pools(faithful, 1) == pools(faithful, 2)
    assert pools(corrected, 1) != pools(corrected, 2)
    assert pools(corrected, 1) == pools(corrected, 1)


def test_lt_view_mismatch_switch():
    labels = np.repeat(np.arange(10), 300)
    test_labels = np.repeat(np.arange(10), 10)
    setting = SettingConfig(dataset="fmnist_lt", rho=10, alpha=100.0, lt_img_max=200)
    out = build_partition(
        setting,
        ProtocolConfig(),
        FidelityConfig.from_dict("faithful"),
        3,
        labels,
        test_labels,
        spec=dataset_spec(setting.dataset),
    )
    train = out.partition[out.partition["split"] == "train"]
    assert (train["source_index"] != train["query_source_index"]).mean() > 0.5  # different images…
    assert np.array_equal(labels[train["source_index"]], labels[train["query_source_index"]])  # …same classes
    fixed = build_partition(
        setting,
        ProtocolConfig(),
        FidelityConfig.from_dict({"lt_query_view_mismatch": False}),
        3,
        labels,
        test_labels,
        spec=dataset_spec(setting.dataset),
    )
    t2 = fixed.partition[fixed.partition["split"] == "train"]
    assert (t2["source_index"] == t2["query_source_index"]).all()


def test_initial_budget_larger_than_client_pool_is_rejected():
    """The partition checks the initial labelled sets only: the later cycles are the configuration's check
    (SettingConfig.check_feasible), so that a partition's params need not carry the later schedule."""
    labels = np.repeat(np.arange(10), 16)  # 160 samples, R = 200: 18 initial labels per client of 16
    setting = SettingConfig(dataset="fmnist", alpha=100.0, num_clients=10)
    protocol = ProtocolConfig.from_dict({"initial_ratio": 0.9, "query_ratio": 0.05, "end_ratio": 1.0})
    with pytest.raises(ValueError, match="client 0 holds 16 samples but its initial labelled set is 18"):
        build_partition(setting, protocol, FidelityConfig(), 1, labels, labels, spec=dataset_spec(setting.dataset))


def test_logo_partition_follows_the_run_seed_even_when_faithful():
    labels = np.repeat(np.arange(10), 100)
    setting = SettingConfig(dataset="fmnist", alpha=0.5, partition="dir_balance_logo")
    a, b = (
        build_partition(
            setting, ProtocolConfig(), FidelityConfig(), s, labels, labels[:200], spec=dataset_spec(setting.dataset)
        )
        for s in (1, 2)
    )
    assert [p.tolist() for p in client_pools(a.partition, 10)] != [p.tolist() for p in client_pools(b.partition, 10)]


def test_initial_labelled_set_size_and_membership():
    labels = np.repeat(np.arange(10), 200)
    out = build_partition(
        SettingConfig(dataset="fmnist", alpha=0.1),
        ProtocolConfig(),
        FidelityConfig(),
        4,
        labels,
        labels[:100],
        spec=dataset_spec(SettingConfig(dataset="fmnist", alpha=0.1).dataset),
    )
    pools = client_pools(out.partition, 10)
    initial = labelled_lists(out.initial_labelled, 10)
    assert out.budgets.initial[0] == 10  # R = 2000, 5% / 10 clients
    for pool, chosen in zip(pools, initial):
        assert len(chosen) == 10 and len(set(chosen.tolist())) == 10
        assert set(chosen.tolist()) <= set(pool.tolist())


def test_extend_labelled_puts_new_first_and_rejects_overlap():
    import pandas as pd

    old = pd.DataFrame({"client": [0, 0], "position": [5, 7], "rank": [0, 1], "cycle_added": [1, 1]})
    new = extend_labelled(old, {0: np.array([9, 3])}, 2, 1)
    assert new.sort_values("rank")["position"].tolist() == [9, 3, 5, 7]
    assert new.sort_values("rank")["cycle_added"].tolist() == [2, 2, 1, 1]
    with pytest.raises(ValueError, match="already-labelled"):
        extend_labelled(old, {0: np.array([5])}, 2, 1)


@pytest.mark.parametrize("alpha", [0.5, 100.0])
def test_logo_partition_properties(alpha):
    counts = CLASS_COUNTS["cifar10_lt"]
    labels = class_sorted_labels(counts)
    result = dir_balance_logo(
        labels, 10, 10, alpha, torch_generator=torch.Generator().manual_seed(1), py_random=random.Random(1)
    )
    everyone = np.concatenate([np.asarray(c, dtype=np.int64) for c in result.clients])
    assert len(np.unique(everyone)) == len(everyone)  # nobody twice
    sizes = [len(c) for c in result.clients]
    cap = int(np.ceil(len(labels) / 10))
    if alpha < 10:
        # every sample is dealt out, no client above ceil(N/K), the shortfall 10·cap − N on one client
        assert sum(sizes) == len(labels) and max(sizes) <= cap and min(sizes) >= cap - (10 * cap - len(labels))
    else:
        assert sum(sizes) <= len(labels)
    again = dir_balance_logo(
        labels, 10, 10, alpha, torch_generator=torch.Generator().manual_seed(1), py_random=random.Random(1)
    )
    assert again.clients == result.clients
