"""The federated protocol of one AL cycle as the trainers and FL algorithms read it (reference-spec §4.1)."""

from __future__ import annotations

from dataclasses import dataclass

from fal.config import FidelityConfig, ProtocolConfig


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
    """A name from fal.federated.algorithms.registry.ALGORITHMS."""
    fedprox_mu: float = 0.01

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
        )

    def local_steps(self, size: int) -> int:
        """Optimizer steps of one client's local training (last batch kept)."""
        return self.local_epochs * -(-size // self.batch_size)


def round_lr(cfg: FLConfig, round_index: int) -> float:
    """Learning rate of a 0-based round.

    Official: decayed once ``round_index > int(lr_decay_at · rounds)`` (rounds 76–99 of 100). Paper: from
    ``round_index >= int(lr_decay_at · rounds)`` ("after round 75").
    """
    milestone = int(cfg.rounds * cfg.lr_decay_at)
    decayed = round_index > milestone if cfg.lr_decay_rule == "official" else round_index >= milestone
    return cfg.lr * (cfg.lr_decay if decayed else 1.0)
