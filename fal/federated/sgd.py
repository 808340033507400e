"""The one local SGD epoch loop: FL clients, KCFU clients, local-only, fine-tuned and KD local models.

Every model the official codes train on a client's labelled set does the same per epoch: a fresh
permutation and one flip coin per sample from the client's generator (in that order; then, only when
the training images are random-cropped (KAFAL's transform), one crop offset pair per sample), then one
optimizer step per mini-batch in permutation order (last batch kept). What differs (the loss, an lr
schedule, a correction after each step) is passed in, so the random draws and the order of floating
point operations are the same wherever the loop is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fal.data.images import ImageBank


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


def check_finite(loss: torch.Tensor, where: str) -> None:
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"{where}: loss is {loss.item()}. Lower protocol.lr, check the input data, or rerun with "
            f"runtime.deterministic to reproduce it."
        )


@dataclass(frozen=True)
class LabelledSet:
    """A client's labelled samples as tensors: bank positions (CPU, for indexing) and labels (on the bank's device)."""

    positions: torch.Tensor
    labels: torch.Tensor
    bank: ImageBank

    @classmethod
    def of(cls, positions: np.ndarray, labels: np.ndarray, bank: ImageBank) -> LabelledSet:
        return cls(
            positions=torch.tensor(np.asarray(positions), dtype=torch.long),
            labels=torch.tensor(np.asarray(labels), dtype=torch.long, device=bank.device),
            bank=bank,
        )

    def __len__(self) -> int:
        return len(self.positions)


LossFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(model, x, y)``: the batch loss, forward pass included."""


PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``criterion(logits, y)`` → one classification loss per sample."""


def cross_entropy_per_sample(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits, _ = model(x)
    return torch.nn.functional.cross_entropy(logits, y)


def binary_cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-label: BCE-with-logits of each label against the multi-hot ``y``, averaged over labels and batch."""
    logits, _ = model(x)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))


def bernoulli_kl_terms(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bern(σ(p_logits)) ‖ Bern(σ(q_logits))), from log-sigmoids (stable at large logits):
    KCFU's multi-label distillation and KSAS's multi-label score."""
    log_p, log_not_p = F.logsigmoid(p_logits), F.logsigmoid(-p_logits)
    log_q, log_not_q = F.logsigmoid(q_logits), F.logsigmoid(-q_logits)
    return log_p.exp() * (log_p - log_q) + log_not_p.exp() * (log_not_p - log_not_q)


def sgd_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: LabelledSet,
    batch_size: int,
    generator: torch.Generator,
    loss: LossFunction,
    where: str,
    *,
    before_step: Callable[[], None] | None = None,
    after_step: Callable[[], None] | None = None,
) -> list[float]:
    """One epoch over ``data`` in train mode; returns the batch losses.

    ``before_step`` runs before each mini-batch (an lr schedule), ``after_step`` after each optimizer
    step (SCAFFOLD's correction). A non-finite loss raises NonFiniteLossError naming ``where``.
    """
    model.train()
    n = len(data)
    order = torch.randperm(n, generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    offsets = data.bank.crop_offsets(n, generator)  # None (no draw) unless the bank crops
    losses = []
    for start in range(0, n, batch_size):
        if before_step is not None:
            before_step()
        index = order[start : start + batch_size]
        crops = None if offsets is None else offsets[start : start + batch_size]
        x = data.bank.batch(data.positions[index], flips[start : start + batch_size], crops)
        optimizer.zero_grad(set_to_none=True)
        value = loss(model, x, data.labels[index.to(data.bank.device)])
        check_finite(value, where)
        value.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        losses.append(value.item())
    return losses


def mean_epoch_loss(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: LabelledSet,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    loss: LossFunction,
    where: str,
    *,
    after_step: Callable[[], None] | None = None,
    before_epoch: Callable[[int], None] | None = None,
) -> float:
    """``epochs`` epochs of ``sgd_epoch``; the mean over epochs of each epoch's mean batch loss (as logged).
    ``before_epoch(epoch)`` (0-based) runs before each epoch (KAFAL's per-epoch lr schedule)."""
    epoch_losses = []
    for epoch in range(epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        batch = sgd_epoch(
            model, optimizer, data, batch_size, generator, loss, f"{where}, epoch {epoch + 1}", after_step=after_step
        )
        epoch_losses.append(sum(batch) / len(batch))
    return sum(epoch_losses) / len(epoch_losses)


def sgd_optimizer(model: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """The optimizer every local training uses (dampening 0, no Nesterov, weight decay on all parameters)."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
