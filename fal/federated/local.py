"""Local query models (reference-spec §5): local-only from a shared random init (§5.1), fine-tuned
(§5.2), last-round client models (§5.3), behind one interface (``ClientModels``).

Used by every L-selector and by FairFAL. All clients of one query step start from the same fresh
random init. SGD (lr, momentum 0.9, weight decay) on the client's labelled set with flips, up to
``epochs`` epochs; the official MultiStepLR(milestone 37) is stepped after every mini-batch, so lr
drops after 37 optimizer steps (``milestone_unit="step"``), not 37 epochs. After each epoch the model
is scored in eval mode on a fresh shuffled, flipped pass over its labelled set, and training stops
once that accuracy reaches ``stop_train_acc``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.data.images import ImageBank
from fal.federated.sgd import LabelledSet, cross_entropy_loss, sgd_epoch, sgd_optimizer
from fal.seeding import torch_generator


@dataclass(frozen=True)
class LocalTrainingConfig:
    epochs: int
    stop_train_acc: float
    lr_milestone: int
    milestone_unit: str
    lr: float
    lr_decay: float
    momentum: float
    weight_decay: float
    batch_size: int

    @classmethod
    def from_protocol(cls, protocol: ProtocolConfig, fidelity: FidelityConfig) -> LocalTrainingConfig:
        local = protocol.local_model
        return cls(
            epochs=local.epochs,
            stop_train_acc=local.stop_train_acc,
            lr_milestone=local.lr_milestone,
            milestone_unit=fidelity.local_lr_milestone_unit,
            lr=protocol.lr,
            lr_decay=protocol.lr_decay,
            momentum=protocol.momentum,
            weight_decay=protocol.weight_decay,
            batch_size=protocol.batch_size,
        )


@dataclass(frozen=True)
class LocalTrainingInfo:
    epochs: int
    steps: int
    train_accuracy: float


def train_local_only(
    model: nn.Module,
    positions: np.ndarray,
    labels: np.ndarray,
    bank: ImageBank,
    cfg: LocalTrainingConfig,
    generator: torch.Generator,
    where: str = "local model",
) -> LocalTrainingInfo:
    """Train ``model`` (already holding the shared init) in place; return how long it trained."""
    optimizer = sgd_optimizer(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    data = LabelledSet.of(positions, labels, bank)
    pos, y_all = data.positions, data.labels
    n = len(data)
    if n == 0:
        raise ValueError(f"{where}: no labelled samples to train on")
    steps = 0
    accuracy = 0.0
    epoch = 0

    def schedule() -> None:  # MultiStepLR stepped per mini-batch ("step") or per epoch
        decayed = (steps if cfg.milestone_unit == "step" else epoch - 1) >= cfg.lr_milestone
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * (cfg.lr_decay if decayed else 1.0)

    def count() -> None:
        nonlocal steps
        steps += 1

    for epoch in range(1, cfg.epochs + 1):
        sgd_epoch(
            model,
            optimizer,
            data,
            cfg.batch_size,
            generator,
            cross_entropy_loss,
            f"{where}, epoch {epoch}",
            before_step=schedule,
            after_step=count,
        )
        # Stopping check on a new shuffled, augmented pass in eval mode, as the official code does.
        model.eval()
        with torch.no_grad():
            order = torch.randperm(n, generator=generator)
            flips = torch.rand(n, generator=generator) < 0.5
            correct = 0
            for start in range(0, n, cfg.batch_size):
                index = order[start : start + cfg.batch_size]
                logits, _ = model(bank.batch(pos[index], flips[start : start + cfg.batch_size]))
                correct += int((logits.argmax(dim=1) == y_all[index.to(bank.device)]).sum())
        accuracy = correct / n
        if accuracy >= cfg.stop_train_acc:
            break
    model.eval()
    return LocalTrainingInfo(epochs=epoch, steps=steps, train_accuracy=accuracy)


# --------------------------------------------------------------------------------------------------
# The local query models of §5 behind one interface and one cache


Maker = Callable[[int, np.ndarray, np.ndarray], "tuple[nn.Module, LocalTrainingInfo | None]"]
"""``make(client, labelled positions, labelled labels)`` → (model in eval mode, how it trained or None)."""


class ClientModels:
    """One kind of local query model (§5) for every client of a query step, made on first use and cached.

    The kinds differ only in how a client's model is made (``scratch_models``, ``finetuned_models``,
    ``last_round_models``, and IFAL's ``fal.strategies.kd_local.kd_models``); each client's model draws
    from its own generator, so it does not depend on which client asked first. ``info`` holds how each
    trained model trained (reported in the query diagnostics).
    """

    def __init__(
        self,
        make: Maker,
        describe: Callable[[int, LocalTrainingInfo], str] | None = None,
        log: Callable[[str], None] | None = None,
        restart: Callable[[dict[str, torch.Tensor]], ClientModels] | None = None,
    ):
        self._make = make
        self._describe = describe
        self._log = log
        self._restart = restart
        self._models: dict[int, nn.Module] = {}
        self.info: dict[int, LocalTrainingInfo] = {}

    def get(self, pool: Any) -> nn.Module:
        """The model of ``pool.client`` (a ``fal.strategies.base.ClientPool``)."""
        if pool.client not in self._models:
            model, info = self._make(pool.client, pool.labelled, pool.labelled_labels)
            self._models[pool.client] = model
            if info is not None:
                self.info[pool.client] = info
                if self._log and self._describe:
                    self._log(self._describe(pool.client, info))
        return self._models[pool.client]

    def finetuned_from(self, model: nn.Module) -> ClientModels:
        """The same kind of trained models, started from a copy of ``model`` instead (the fine-tuned local
        model of §5.2, LoGo's ``ft_*`` baselines); same data, schedule and generators."""
        if self._restart is None:
            raise ValueError("these client models are not trained at query time; nothing to fine-tune")
        return self._restart({key: value.detach().clone() for key, value in model.state_dict().items()})


def scratch_models(
    build: Callable[[], nn.Module],
    init_state: dict[str, torch.Tensor],
    bank: ImageBank,
    cfg: LocalTrainingConfig,
    seed_keys: tuple,
    log: Callable[[str], None] | None = None,
) -> ClientModels:
    """Local-only models (§5.1): every client from ``init_state`` (one shared random init), trained on its
    labelled set. With the global model's state as ``init_state`` these are the fine-tuned models (§5.2)."""

    def make(client: int, positions: np.ndarray, labels: np.ndarray) -> tuple[nn.Module, LocalTrainingInfo]:
        model = build()
        model.load_state_dict(init_state)
        info = train_local_only(
            model,
            positions,
            labels,
            bank,
            cfg,
            torch_generator(*seed_keys, "local_train", client),
            where=f"local-only model of client {client}",
        )
        return model, info

    def describe(client: int, info: LocalTrainingInfo) -> str:
        return (
            f"client {client}: local-only model trained {info.epochs} epochs ({info.steps} steps), "
            f"train accuracy {100 * info.train_accuracy:.1f}%"
        )

    return ClientModels(
        make, describe, log, restart=lambda state: scratch_models(build, state, bank, cfg, seed_keys, log)
    )


def last_round_models(
    build: Callable[[], nn.Module], client_states: dict[int, dict[str, torch.Tensor]]
) -> ClientModels:
    """Each client's model after its local training in the cycle's last FL round (§5.3, the IFAL repo's
    L model; KAFAL's client model, §5.5), read from the training stage's ``client_models.pt``."""
    states = {int(k): v for k, v in client_states.items()}

    def make(client: int, _positions: np.ndarray, _labels: np.ndarray) -> tuple[nn.Module, None]:  # nothing trained
        if client not in states:
            raise KeyError(
                f"client {client} has no last-round model (it did not train in the cycle's last round; "
                f"with protocol.client_fraction < 1 use local_model: scratch or finetune)"
            )
        model = build()
        model.load_state_dict(states[client])
        model.eval()
        return model, None

    return ClientModels(make)
