"""The federated protocol of one AL cycle as the trainers and FL algorithms read it (reference-spec §4.1)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from torch import nn

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.federated.sgd import LossFunction, PerSampleLoss
from fal.registry import load_entry

if TYPE_CHECKING:  # annotations only
    import pandas as pd

    from fal.data.views import SettingData


class ModelExtension(Protocol):
    """A module a strategy trains with the model in every cycle (LL4AL's loss prediction,
    ``fal.federated.loss_prediction.LossPredictionConfig``), loaded by its declared entry point."""

    @property
    def keeps_client_modules(self) -> bool:
        """Whether each client keeps its own copy across the rounds of a cycle."""
        ...

    def attach(self, model: nn.Module, init_seed: int) -> nn.Module: ...

    def client_module(self, model: nn.Module) -> nn.Module: ...

    def labelled_loss(self, criterion: PerSampleLoss, round_index: int, rounds: int) -> LossFunction: ...

    def describe(self, model: nn.Module) -> str: ...


def load_extension(trains_with: Mapping[str, Any] | None) -> ModelExtension | None:
    """The module a strategy trains with the model ({"entry": ..., "options": ...}, fal.plan.params), or None."""
    if not trains_with:
        return None
    return cast(ModelExtension, load_entry(str(trains_with["entry"])).from_dict(trains_with["options"]))


@dataclass(frozen=True)
class CycleSetup:
    """What an FL algorithm may read when it prepares a cycle (``FedAvg.for_cycle``) besides the protocol:
    its own resolved options, the clients' labelled data, the setting's images and the fidelity switches."""

    clients: list
    """``fal.federated.training.ClientData`` per client."""
    data: SettingData
    labelled: pd.DataFrame
    num_classes: int
    fidelity: FidelityConfig
    options: Mapping[str, Any]
    multi_label: bool
    log: logging.Logger


@dataclass(frozen=True)
class FLConfig:
    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    lr_decay: float
    lr_decay_at: float
    client_fraction: float
    lr_decay_rule: str = "official"
    algorithm: str = "fedavg"
    """The name of the FL algorithm (its declaration: fal.plan.catalog.ALGORITHMS)."""
    fedprox_mu: float = 0.01
    optimizer_scope: str = "round"
    """"round" (fresh client optimiser per round) or "cycle" (persists across rounds; KAFAL §7.2)."""
    lr_schedule: str = "round"
    """"round" (round_lr) or "client_epoch" (client_epoch_lr, stepped before every local epoch; KAFAL §7.2)."""
    lr_milestones: tuple[int, ...] = (260,)
    last_round_all_clients: bool = False
    extension: ModelExtension | None = None
    """A module trained with the model (LL4AL's loss prediction), else None. Set by the training stage
    from the strategy, not by the protocol."""
    multi_label: bool = False
    """Multi-hot labels: clients minimise BCE-with-logits (mean over labels) instead of cross-entropy.
    Set by the training stage from the dataset; the sequential trainer runs it."""

    @property
    def persistent(self) -> bool:
        """Whether client state (optimiser, local-epoch count) crosses rounds: only the sequential trainer runs this."""
        return self.optimizer_scope == "cycle" or self.lr_schedule == "client_epoch"

    @property
    def sequential_only(self) -> bool:
        """Whether only the sequential trainer runs this (persistent client state, or a loss module's joint loss)."""
        return self.persistent or self.extension is not None or self.multi_label

    @classmethod
    def from_protocol(cls, protocol: ProtocolConfig, fidelity: FidelityConfig) -> FLConfig:
        return cls(
            rounds=protocol.rounds,
            local_epochs=protocol.local_epochs,
            batch_size=protocol.batch_size,
            lr=protocol.lr,
            momentum=protocol.momentum,
            weight_decay=protocol.weight_decay,
            lr_decay=protocol.lr_decay,
            lr_decay_at=protocol.lr_decay_at,
            client_fraction=protocol.client_fraction,
            lr_decay_rule=fidelity.fl_lr_decay,
            algorithm=protocol.fl_algorithm,
            fedprox_mu=protocol.fedprox_mu,
            optimizer_scope=protocol.optimizer_scope,
            lr_schedule=protocol.lr_schedule,
            lr_milestones=tuple(protocol.lr_milestones),
            last_round_all_clients=protocol.last_round_all_clients,
        )

    def local_steps(self, size: int) -> int:
        """Optimizer steps of one client's local training (last batch kept)."""
        return self.local_epochs * -(-size // self.batch_size)


def round_lr(cfg: FLConfig, round_index: int) -> float:
    """Learning rate of a 0-based round.

    Official: decayed once ``round_index > int(lr_decay_at · rounds)`` (rounds 76–99 of 100). Paper: from
    ``round_index >= int(lr_decay_at · rounds)`` ("after round 75").
    """
    if cfg.lr_schedule == "client_epoch":
        return cfg.lr  # decayed per client local epoch instead (client_epoch_lr)
    milestone = int(cfg.rounds * cfg.lr_decay_at)
    decayed = round_index > milestone if cfg.lr_decay_rule == "official" else round_index >= milestone
    return cfg.lr * (cfg.lr_decay if decayed else 1.0)


def client_epoch_lr(cfg: FLConfig, epoch: int) -> float:
    """KAFAL's learning rate for a client's ``epoch``-th local epoch of the cycle (1-based): its
    MultiStepLR is stepped once before every local epoch, so that epoch runs at lr × lr_decay^m with
    m = the number of milestones <= epoch (reference-spec §7.2)."""
    return cfg.lr * cfg.lr_decay ** sum(1 for milestone in cfg.lr_milestones if milestone <= epoch)
