"""Local-only query models trained from a shared random init (reference-spec §5.1).

Used by every L-selector and by FairFAL. All clients of one query step start from the same fresh
random init. SGD (lr, momentum 0.9, weight decay) on the client's labelled set with flips, up to
``epochs`` epochs; the official MultiStepLR(milestone 37) is stepped after every mini-batch, so lr
drops after 37 optimizer steps (``milestone_unit="step"``), not 37 epochs. After each epoch the model
is scored in eval mode on a fresh shuffled, flipped pass over its labelled set, and training stops
once that accuracy reaches ``stop_train_acc``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fal.config import FidelityConfig, ProtocolConfig
from fal.data.images import ImageBank
from fal.federated.sgd import LabelledSet, cross_entropy_loss, sgd_epoch, sgd_optimizer


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
