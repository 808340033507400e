"""A setting: dataset, imbalance ρ, Dirichlet α, clients, partition kind, reduced-data knobs.

Checked against the dataset catalog when the configuration is read (fal.plan.checks); a job rebuilds it
from its params.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fal.config.protocol import ProtocolConfig

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
    """With ``partition: file``: the digest of the file's client lists (what stands for the file in params; fal.config.partition_file)."""
    client_sizes: tuple[int, ...] | None = None
    """With ``partition: file``: each client's training images (read from the file; not a param)."""

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
    def from_params(cls, params: Mapping[str, Any]) -> SettingConfig:
        """A job's setting from its params (``to_dict``; checked when the configuration was read)."""
        return cls(**params)

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
