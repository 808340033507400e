"""A setting's images on the compute device: training view, query view and evaluation set by position."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fal.data.build import client_pools, client_test_positions
from fal.data.datasets import DatasetSpec
from fal.data.sources import DatasetArrays
from fal.data.images import ImageBank


@dataclass
class SettingData:
    spec: DatasetSpec
    train_bank: ImageBank
    """Images trained on (with flips), by position."""
    query_bank: ImageBank
    """Images scored at query time, by position (differs from train_bank under the LT view mismatch)."""
    test_bank: ImageBank
    train_labels: np.ndarray
    test_labels: np.ndarray
    pools: list[np.ndarray]
    client_tests: list[np.ndarray]

    @property
    def num_clients(self) -> int:
        return len(self.pools)


def load_setting_data(arrays: DatasetArrays, partition: pd.DataFrame, spec: DatasetSpec, num_clients: int, device) -> SettingData:
    train = partition[partition["split"] == "train"].sort_values("position")
    test = partition[partition["split"] == "test"].sort_values("position")
    for name, frame in (("train", train), ("test", test)):
        if not np.array_equal(frame["position"].to_numpy(), np.arange(len(frame))):
            raise ValueError(f"partition table: {name} positions are not 0..{len(frame) - 1}")
    mean, std = spec.channel_mean(), spec.channel_std()
    train_src = train["source_index"].to_numpy(dtype=np.int64)
    query_src = train["query_source_index"].to_numpy(dtype=np.int64)
    train_bank = ImageBank(arrays.train_images[train_src], mean, std, device)
    query_bank = train_bank if np.array_equal(train_src, query_src) else ImageBank(arrays.train_images[query_src], mean, std, device)
    test_bank = ImageBank(arrays.test_images[test["source_index"].to_numpy(dtype=np.int64)], mean, std, device)
    labels = train["label"].to_numpy(dtype=np.int64)
    if not np.array_equal(labels, arrays.train_labels[train_src]):
        raise ValueError("partition table labels do not match the dataset: was it built from another dataset version?")
    return SettingData(
        spec=spec,
        train_bank=train_bank,
        query_bank=query_bank,
        test_bank=test_bank,
        train_labels=labels,
        test_labels=test["label"].to_numpy(dtype=np.int64),
        pools=client_pools(partition, num_clients),
        client_tests=client_test_positions(partition, num_clients),
    )
