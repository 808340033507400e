"""The federated training and AL budget protocol (reference-spec §2, §4.1); defaults are the paper's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.config.base import build_config, check, is_number
from fal.data.budgets import cycle_ratios
from fal.federated.algorithms.registry import PROTOCOL_ALGORITHMS


@dataclass(frozen=True)
class LocalModelConfig:
    """Local-only query model trained from a shared random init (reference-spec §5.1)."""

    epochs: int = 50
    stop_train_acc: float = 0.99
    lr_milestone: int = 37
    """Optimizer steps (or epochs, see fidelity.local_lr_milestone_unit) after which lr is ×lr_decay."""

    def validate(self, where: str) -> None:
        check(
            isinstance(self.epochs, int) and self.epochs >= 1,
            f"{where}.epochs",
            f"must be an integer >= 1, got {self.epochs!r}",
        )
        check(
            is_number(self.stop_train_acc) and 0 < self.stop_train_acc <= 1.0,
            f"{where}.stop_train_acc",
            f"must be in (0, 1], got {self.stop_train_acc!r}",
        )
        check(
            isinstance(self.lr_milestone, int) and self.lr_milestone >= 0,
            f"{where}.lr_milestone",
            f"must be an integer >= 0, got {self.lr_milestone!r}",
        )


@dataclass(frozen=True)
class ProtocolConfig:
    """Federated training and AL budget protocol (reference-spec §2, §4.1). Defaults are the paper's."""

    num_clients: int = 10
    client_fraction: float = 1.0
    rounds: int = 100
    local_epochs: int = 5
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_decay: float = 0.1
    lr_decay_at: float = 0.75
    initial_ratio: float = 0.05
    query_ratio: float = 0.05
    end_ratio: float = 0.45
    model: str = "cnn4conv"
    fl_algorithm: str = "fedavg"
    """An algorithm of fal/federated/algorithms/registry.py chosen by the protocol (FL_ALGORITHMS)."""
    fedprox_mu: float = 0.01
    """FedProx's μ; the official default (the paper does not state it). Used only by fedprox."""
    local_model: LocalModelConfig = field(default_factory=LocalModelConfig)

    def validate(self, where: str) -> None:
        for key in ("num_clients", "rounds", "local_epochs", "batch_size"):
            value = getattr(self, key)
            check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{where}.{key}",
                f"must be an integer >= 1, got {value!r}",
            )
        for key in ("lr", "lr_decay"):
            value = getattr(self, key)
            check(is_number(value) and value > 0, f"{where}.{key}", f"must be > 0, got {value!r}")
        for key in ("momentum", "weight_decay"):
            value = getattr(self, key)
            check(is_number(value) and value >= 0, f"{where}.{key}", f"must be >= 0, got {value!r}")
        for key in ("client_fraction", "lr_decay_at", "initial_ratio", "query_ratio", "end_ratio"):
            value = getattr(self, key)
            check(is_number(value) and 0 < value <= 1, f"{where}.{key}", f"must be in (0, 1], got {value!r}")
        check(
            self.end_ratio >= self.initial_ratio,
            f"{where}.end_ratio",
            f"({self.end_ratio}) must be >= initial_ratio ({self.initial_ratio})",
        )
        check(self.model in MODELS, f"{where}.model", f"unknown model {self.model!r}; available: {sorted(MODELS)}")
        check(
            self.fl_algorithm in FL_ALGORITHMS,
            f"{where}.fl_algorithm",
            f"must be one of {list(FL_ALGORITHMS)}, got {self.fl_algorithm!r}",
        )
        check(
            is_number(self.fedprox_mu) and self.fedprox_mu >= 0,
            f"{where}.fedprox_mu",
            f"must be >= 0, got {self.fedprox_mu!r}",
        )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None, where: str = "protocol") -> ProtocolConfig:
        mapping = dict(mapping or {})
        local = build_config(LocalModelConfig, mapping.pop("local_model", None), f"{where}.local_model")
        obj = build_config(cls, mapping, where)
        return dataclasses.replace(obj, local_model=local)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def num_cycles(self) -> int:
        return len(cycle_ratios(self.initial_ratio, self.query_ratio, self.end_ratio))


MODELS = {"cnn4conv", "mobilenet", "resnet18", "kafal_resnet8"}
"""Models of reference-spec §3.1–§3.4 (built by fal.federated.models.build_model)."""
FL_ALGORITHMS = PROTOCOL_ALGORITHMS
"""Choices of protocol.fl_algorithm, from the algorithm registry (fal/federated/algorithms/registry.py)."""
