"""A setting: dataset, imbalance ρ, Dirichlet α, clients, partition kind, reduced-data knobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fal.config.base import build_config, check, did_you_mean, is_number
from fal.config.budgets import client_budgets
from fal.config.datasets import DATASETS, SOURCES, longtail_counts
from fal.config.partition_file import PARTITION_KINDS
from fal.config.protocol import MODELS, PROTOCOL_ALGORITHMS, ProtocolConfig

MULTILABEL_PARTITION_RULES = ("rarest", "first")
"""How a multi-label image gets the one class the Dirichlet partition needs (KAFAL's paper partitions
NIH ChestX-ray14 with α = 0.1 without saying how; its code has no multi-label path): "rarest" = its
positive label with the fewest training images (so rare diseases are as skewed across clients as rare
classes are), "first" = its first positive label in the dataset's label order. An image with no positive
label (ChestMNIST's "No Finding") is class ``num_classes`` either way."""

SETTING_AXES = ("model", "fl_algorithm", "client_fraction")
"""Protocol keys a study may list that become fields of each setting (its id, params and protocol); the
study's other axis, ``num_clients``, is a setting field of its own."""


@dataclass(frozen=True)
class SettingConfig:
    """One data setting: dataset, imbalance, heterogeneity, number of clients, and data reductions."""

    dataset: str
    alpha: float
    num_clients: int = 10
    rho: float | None = None
    partition: str = "dir_balance"
    lt_img_max: float | None = None
    """Head-class size of the long tail; None = N_train / C (the paper). Smaller = reduced protocol."""
    test_per_class: int | None = None
    """Evaluate on the first n test images of each class; None = the full test set (the paper)."""
    model: str | None = None
    """The backbone when a study varies it (``protocol.model`` as a list, FairFAL Table 9); None = the protocol's."""
    fl_algorithm: str | None = None
    """The FL algorithm when a study varies it (``protocol.fl_algorithm`` as a list, Figure 5); None = the protocol's."""
    client_fraction: float | None = None
    """The share of clients per round when a study varies it (``protocol.client_fraction`` as a list, KAFAL
    Fig. 9 against full participation); None = the protocol's."""
    multilabel_partition: str | None = None
    """Multi-label data only: which label places an image in the Dirichlet partition
    (MULTILABEL_PARTITION_RULES); None = "rarest"."""
    partition_digest: str | None = None
    """With ``partition: file``: the digest of the file's client lists (its identity; fal.config.partition_file)."""
    client_sizes: tuple[int, ...] | None = None
    """With ``partition: file``: each client's training images (read from the file; not a param)."""

    def validate(self, where: str) -> None:
        check(
            self.dataset in DATASETS,
            f"{where}.dataset",
            f"unknown dataset {self.dataset!r}{did_you_mean(self.dataset, DATASETS)}; available: {sorted(DATASETS)}",
        )
        spec = DATASETS[self.dataset]
        if spec.long_tailed:
            check(
                self.rho is not None and is_number(self.rho) and self.rho >= 1,
                f"{where}.rho",
                f"dataset {self.dataset} is long-tailed and needs rho >= 1, got {self.rho!r}",
            )
        else:
            check(
                self.rho is None,
                f"{where}.rho",
                f"dataset {self.dataset} keeps its natural class distribution; rho must not be set (got {self.rho!r})",
            )
            check(
                self.lt_img_max is None,
                f"{where}.lt_img_max",
                f"only long-tailed datasets take lt_img_max (dataset {self.dataset})",
            )
        check(
            is_number(self.alpha) and self.alpha > 0,
            f"{where}.alpha",
            f"Dirichlet alpha must be > 0, got {self.alpha!r}",
        )
        check(
            isinstance(self.num_clients, int) and self.num_clients >= 1,
            f"{where}.num_clients",
            f"must be an integer >= 1, got {self.num_clients!r}",
        )
        check(
            self.partition in PARTITIONS,
            f"{where}.partition",
            f"unknown partition {self.partition!r}; available: {sorted(PARTITIONS)}",
        )
        if self.partition == "file":
            check(
                self.partition_digest is not None,
                f"{where}.partition",
                "a file partition is given as {kind: file, path: <your copy of the file>}",
            )
            check(
                not spec.long_tailed,
                f"{where}.partition",
                f"a partition file indexes the source's whole training set; use {spec.source}, not {self.dataset}",
            )
        if self.lt_img_max is not None:
            check(
                is_number(self.lt_img_max) and self.lt_img_max >= 1,
                f"{where}.lt_img_max",
                f"must be >= 1, got {self.lt_img_max!r}",
            )
        if self.model is not None:
            check(self.model in MODELS, f"{where}.model", f"unknown model {self.model!r}; available: {list(MODELS)}")
        if self.fl_algorithm is not None:
            check(
                self.fl_algorithm in PROTOCOL_ALGORITHMS,
                f"{where}.fl_algorithm",
                f"unknown FL algorithm {self.fl_algorithm!r}; available: {list(PROTOCOL_ALGORITHMS)}",
            )
        if self.multilabel_partition is not None:
            check(
                spec.multi_label and self.multilabel_partition in MULTILABEL_PARTITION_RULES,
                f"{where}.multilabel_partition",
                f"one of {list(MULTILABEL_PARTITION_RULES)}, for a multi-label dataset only "
                f"(got {self.multilabel_partition!r} for {self.dataset})",
            )
        if self.test_per_class is not None:
            check(
                isinstance(self.test_per_class, int) and self.test_per_class >= 1,
                f"{where}.test_per_class",
                f"must be an integer >= 1, got {self.test_per_class!r}",
            )

    def num_train(self) -> int:
        """Training-subset size implied by the dataset, rho and lt_img_max."""
        spec = DATASETS[self.dataset]
        counts = SOURCES[spec.source].train_counts
        if spec.long_tailed:
            assert self.rho is not None  # validate() requires it for long-tailed datasets
            return sum(longtail_counts(sum(counts), len(counts), self.rho, self.lt_img_max))
        return SOURCES[spec.source].num_train

    def check_feasible(self, protocol: ProtocolConfig, where: str) -> None:
        """Fail before anything runs when the data cannot support the protocol."""
        source = DATASETS[self.dataset].source
        if self.lt_img_max is not None:
            most = max(SOURCES[source].train_counts)
            check(
                self.lt_img_max <= most,
                f"{where}.data.lt_img_max",
                f"{self.lt_img_max:g} exceeds the {most} training images per class of {source}",
            )
        if self.test_per_class is not None and SOURCES[source].test_counts:  # a multi-label source has none
            fewest = min(SOURCES[source].test_counts)
            check(
                self.test_per_class <= fewest,
                f"{where}.data.test_per_class",
                f"{self.test_per_class} exceeds the {fewest} test images of {source}'s smallest class",
            )
        num_train = self.num_train()
        num_cycles = protocol.num_cycles()
        sizes = self.expected_client_sizes()
        budgets = client_budgets(protocol.budget_rule, num_train, sizes, protocol.initial_ratio, protocol.query_ratio)
        check(
            min(budgets.initial) >= 1 and min(budgets.query) >= 1,
            f"{where}.protocol",
            f"setting {self.id}: {num_train} training images over {self.num_clients} clients give an empty per-client "
            f"budget (initial {min(budgets.initial)}, query {min(budgets.query)}); raise initial_ratio/query_ratio or use "
            f"fewer clients",
        )
        for client, size in enumerate(sizes):
            needed = budgets.labelled(client, num_cycles)
            holder = f"client {client}" if self.client_sizes is not None else "the smallest client"
            check(
                needed <= size,
                f"{where}.protocol.end_ratio",
                f"setting {self.id}: {holder} holds {size} images ({self.partition}) but {num_cycles} cycles label "
                f"{budgets.initial[client]} + {budgets.query[client]} × {num_cycles - 1} = {needed}; "
                f"lower end_ratio or query_ratio",
            )

    def expected_client_sizes(self) -> tuple[int, ...]:
        """Each client's training images: the file's, else the smallest the partition can give (FairFAL's
        equal split; LoGo's caps clients at ceil(N/K) and tops up the small ones, §1.5, so the smallest
        holds at least N − (K−1)·ceil(N/K))."""
        if self.client_sizes is not None:
            return self.client_sizes
        num_train, k = self.num_train(), self.num_clients
        smallest = num_train // k
        if self.partition == "dir_balance_logo":
            smallest = num_train - (k - 1) * -(-num_train // k)
        return (smallest,) * k

    @property
    def id(self) -> str:
        """Path-safe name, e.g. ``fmnist_lt-rho20-alpha0.1-K10``."""
        parts = [self.dataset]
        if self.rho is not None:
            parts.append(f"rho{self.rho:g}")
        parts += [f"alpha{self.alpha:g}", f"K{self.num_clients}"]
        if self.partition == "file":
            parts.append(f"file{(self.partition_digest or '')[:8]}")
        elif self.partition != "dir_balance":
            parts.append(self.partition)
        if self.lt_img_max is not None:
            parts.append(f"max{self.lt_img_max:g}")
        if self.test_per_class is not None:
            parts.append(f"test{self.test_per_class}")
        if self.multilabel_partition is not None:
            parts.append(f"by{self.multilabel_partition}")
        parts += [value for value in (self.model, self.fl_algorithm) if value is not None]
        if self.client_fraction is not None:
            parts.append(f"C{self.client_fraction:g}")  # McMahan et al.'s C, the fraction of clients per round
        return "-".join(parts)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], where: str = "setting") -> SettingConfig:
        return build_config(cls, mapping, where)

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict; unset axis fields are left out, so that settings of studies without protocol
        axes keep the params they had before the axes existed (and rerun nothing)."""
        out = dataclasses.asdict(self)
        for key in (*SETTING_AXES, "partition_digest", "multilabel_partition"):
            if out[key] is None:
                del out[key]
        del out["client_sizes"]  # follows from the digest
        return out

    def protocol(self, base: ProtocolConfig) -> ProtocolConfig:
        """``base`` with this setting's axis values (SETTING_AXES) filled in."""
        changes: dict[str, Any] = {k: getattr(self, k) for k in SETTING_AXES if getattr(self, k) is not None}
        return dataclasses.replace(base, **changes) if changes else base


PARTITIONS = set(PARTITION_KINDS)


#
