"""The faithful FMNIST-LT partition equals the official FairFAL code's, bit for bit.

Expected values (tests/fixtures/official_fmnist_lt_partition.json) were obtained by running the official
code (github.com/chenchenzong/FairFAL at ca14e07) on this machine: its ``main.get_dataset`` for
``fmnist_lt`` (imb_ratio 0.05 = rho 20, partition dir_balance, dd_beta alpha, 10 users), then
``random_query_samples`` at query_ratio 0.05, after seeding torch, NumPy and ``random`` as its
``__main__`` does; Python 3.11, torch 2.14.1 CPU, NumPy 2.4.6, on Debian's Fashion-MNIST files. The
file records SHA-256 of the LT image arrays (training and query views) and of each client's index
list in the official order, class counts, and the initial labelled sets in full. The harness that
called the official code is not in this repository (that code has no licence).
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.build import build_partition, client_pools
from fal.plan.catalog import dataset_spec

EXPECTED = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "official_fmnist_lt_partition.json").read_text()
)["cases"]


def sha(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_faithful_partition_equals_official(case, fmnist_arrays):
    expected = EXPECTED[case]
    alpha = float(case.split("_")[0][len("alpha") :])
    seed = int(case.split("seed")[1])
    setting = SettingConfig(dataset="fmnist_lt", rho=20, alpha=alpha)
    out = build_partition(
        setting,
        ProtocolConfig(),
        FidelityConfig.from_dict("faithful"),
        seed,
        fmnist_arrays.train_labels,
        fmnist_arrays.test_labels,
        spec=dataset_spec(setting.dataset),
    )
    part = out.partition
    train = part[part["split"] == "train"].sort_values("position")
    test = part[part["split"] == "test"]

    images = fmnist_arrays.train_images[:, 0]
    assert sha(images[train["source_index"].to_numpy()]) == expected["train_view_images_sha256"]
    assert sha(images[train["query_source_index"].to_numpy()]) == expected["query_view_images_sha256"]
    assert sha(train["label"].to_numpy(dtype=np.int64)) == expected["train_labels_sha256"]

    pools = client_pools(part, 10)
    assert [sha(p) for p in pools] == expected["client_train_lists_sha256"]
    assert [np.bincount(train["label"].to_numpy()[p], minlength=10).tolist() for p in pools] == expected[
        "client_train_class_counts"
    ]

    test_lists = [
        test[test["client"] == k].sort_values("client_rank")["position"].to_numpy(dtype=np.int64) for k in range(10)
    ]
    assert [sha(t) for t in test_lists] == expected["client_test_lists_sha256"]
    assert [
        np.bincount(test.set_index("position").loc[t, "label"], minlength=10).tolist() for t in test_lists
    ] == expected["client_test_class_counts"]

    initial = out.initial_labelled
    got = [initial[initial["client"] == k].sort_values("rank")["position"].tolist() for k in range(10)]
    assert got == expected["initial_labelled"]
