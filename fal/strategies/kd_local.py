"""IFAL's knowledge-distilled local model (reference-spec §5.4), trained at query time.

Starts from the query step's shared random init (§5.1's ``raw_ckpt``); the teacher is the global model
in eval mode. SGD (lr = kd_lr_factor × protocol lr, momentum, weight decay of the protocol), batches of
the protocol's size over the client's labelled set (shuffled, random flips). Loss =
(1 − w)·CE + w·T²·mean_batch Σ_c p_t^T (log p_t^T − log p_s^T) with w = 0.9 and T = 4. Up to
``epochs`` epochs with early stopping on the epoch's mean training loss: patience 5, δ = 0 (the counter
grows whenever the loss is not strictly below the best so far). The official "restore best weights"
keeps a live reference to the weights, i.e. restores nothing, so the model at the stopping epoch is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fal.data.images import ImageBank
from fal.federated.local import ClientModels, LocalTrainingInfo
from fal.federated.sgd import LabelledSet, sgd_epoch, sgd_optimizer
from fal.seeding import torch_generator


@dataclass(frozen=True)
class KDConfig:
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int = 500
    patience: int = 5
    temperature: float = 4.0
    weight: float = 0.9


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · batch mean of KL(softmax(teacher/T) ‖ softmax(student/T))."""
    log_pt = F.log_softmax(teacher_logits / temperature, dim=1)
    log_ps = F.log_softmax(student_logits / temperature, dim=1)
    return temperature**2 * (log_pt.exp() * (log_pt - log_ps)).sum(dim=1).mean()


def train_kd_local(
    model: nn.Module,
    teacher: nn.Module,
    positions: np.ndarray,
    labels: np.ndarray,
    bank: ImageBank,
    cfg: KDConfig,
    generator: torch.Generator,
    where: str = "KD local model",
) -> LocalTrainingInfo:
    """Train ``model`` in place; ``train_accuracy`` of the returned info is left at 0 (not measured)."""
    teacher.eval()
    optimizer = sgd_optimizer(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    data = LabelledSet.of(positions, labels, bank)
    if len(data) == 0:
        raise ValueError(f"{where}: no labelled samples to train on")

    def loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits, _ = teacher(x)
        logits, _ = net(x)
        return (1 - cfg.weight) * F.cross_entropy(logits, y) + cfg.weight * kd_loss(
            logits, teacher_logits, cfg.temperature
        )

    best, wait, steps, epoch = float("inf"), 0, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        losses = sgd_epoch(model, optimizer, data, cfg.batch_size, generator, loss, f"{where}, epoch {epoch}")
        steps += len(losses)
        epoch_loss = sum(losses) / len(losses)
        if epoch_loss < best:
            best, wait = epoch_loss, 0
        else:
            wait += 1
            if wait >= cfg.patience:
                break
    model.eval()
    return LocalTrainingInfo(epochs=epoch, steps=steps, train_accuracy=0.0)


def kd_models(
    fresh: Callable[[], nn.Module],
    teacher: nn.Module,
    bank: ImageBank,
    cfg: KDConfig,
    seed_keys: tuple,
    log: Callable[[str], None] | None = None,
) -> ClientModels:
    """Each client's KD local model of one query step (§5.4), from a fresh model, own generator per client."""

    def make(client: int, positions: np.ndarray, labels: np.ndarray) -> tuple[nn.Module, LocalTrainingInfo]:
        model = fresh()
        info = train_kd_local(
            model,
            teacher,
            positions,
            labels,
            bank,
            cfg,
            torch_generator(*seed_keys, "kd_local_train", client),
            where=f"KD local model of client {client}",
        )
        return model, info

    def describe(client: int, info: LocalTrainingInfo) -> str:
        return f"client {client}: KD local model trained {info.epochs} epochs ({info.steps} steps)"

    return ClientModels(make, describe, log)
