"""A setting's images on the compute device (training view, query view and evaluation set by position),
and the input bundle the training and query stages take."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fal.config.datasets import DatasetSpec
from fal.config.fidelity import FidelityConfig
from fal.config.protocol import TRANSFORMS, ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.build import client_pools, client_test_positions
from fal.data.cache import DatasetArrays
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
    train_targets: np.ndarray | None = None
    """Multi-label data: each training position's multi-hot labels (N × L); ``train_labels`` are then the
    partition's classes (fal.data.build.multilabel_partition_labels). None for single-label data."""
    test_targets: np.ndarray | None = None

    @property
    def num_clients(self) -> int:
        return len(self.pools)

    def targets_of(self, positions: np.ndarray) -> np.ndarray:
        """What training learns from at ``positions``: class labels, or multi-hot rows for multi-label data."""
        return (self.train_labels if self.train_targets is None else self.train_targets)[positions]

    @property
    def test_targets_or_labels(self) -> np.ndarray:
        return self.test_labels if self.test_targets is None else self.test_targets

    def class_counts(self, positions: np.ndarray) -> np.ndarray:
        """Images per class at ``positions`` (multi-label data: per partition class, as the metrics'
        labelled counts, DatasetSpec.partition_classes)."""
        return np.bincount(self.train_labels[positions], minlength=self.spec.partition_classes)


def load_setting_data(
    arrays: DatasetArrays,
    partition: pd.DataFrame,
    spec: DatasetSpec,
    num_clients: int,
    device: Any,
    transform: str = "fairfal",
) -> SettingData:
    """The setting's images on ``device``, normalised and (the training view) augmented as the protocol's
    ``transform`` says (``fal.config.protocol.TRANSFORMS``)."""
    train = partition[partition["split"] == "train"].sort_values("position")
    test = partition[partition["split"] == "test"].sort_values("position")
    for name, frame in (("train", train), ("test", test)):
        if not np.array_equal(frame["position"].to_numpy(), np.arange(len(frame))):
            raise ValueError(f"partition table: {name} positions are not 0..{len(frame) - 1}")
    augment = TRANSFORMS[transform]
    mean, std = augment.normalisation(spec.channel_mean(), spec.channel_std())
    train_src = train["source_index"].to_numpy(dtype=np.int64)
    query_src = train["query_source_index"].to_numpy(dtype=np.int64)
    train_bank = ImageBank(arrays.train_images[train_src], mean, std, device, crop_padding=augment.crop_padding)
    query_bank = (
        train_bank
        if np.array_equal(train_src, query_src)
        else ImageBank(arrays.train_images[query_src], mean, std, device)
    )
    test_bank = ImageBank(arrays.test_images[test["source_index"].to_numpy(dtype=np.int64)], mean, std, device)
    labels = train["label"].to_numpy(dtype=np.int64)
    test_src = test["source_index"].to_numpy(dtype=np.int64)
    train_targets = test_targets = None
    if spec.multi_label:  # the partition's class of an image is one of its labels, or L for none
        train_targets, test_targets = arrays.train_labels[train_src], arrays.test_labels[test_src]
        padded = np.concatenate([train_targets, ~train_targets.any(axis=1, keepdims=True)], axis=1)
        consistent = padded.shape[1] == spec.num_classes + 1 and bool(padded[np.arange(len(labels)), labels].all())
    else:
        consistent = np.array_equal(labels, arrays.train_labels[train_src])
    if not consistent:
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
        train_targets=train_targets,
        test_targets=test_targets,
    )


@dataclass(frozen=True)
class StageInputs:
    """What one training or query job reads, in one bundle: its run's configuration (setting, protocol,
    fidelity, seed), the AL cycle, the source's arrays, the partition, the cycle's labelled set and the
    dataset's declaration (``spec``).
    ``data`` is the setting's images on the device when the caller already has them (tests and
    benchmarks reuse one across stages); otherwise ``setting_data`` builds them."""

    setting: SettingConfig
    protocol: ProtocolConfig
    fidelity: FidelityConfig
    seed: int
    cycle: int
    arrays: DatasetArrays
    partition: pd.DataFrame
    labelled: pd.DataFrame
    spec: DatasetSpec
    data: SettingData | None = None

    def setting_data(self, device: Any) -> SettingData:
        if self.data is not None:
            return self.data
        return load_setting_data(
            self.arrays, self.partition, self.spec, self.setting.num_clients, device, self.protocol.transform
        )


@dataclass(frozen=True)
class Compute:
    """Where and how a stage computes: the device, the job's logger and the no-grad batch size. None of
    it changes the results (beyond floating-point noise between devices)."""

    device: Any
    log: logging.Logger
    inference_batch_size: int = 128
