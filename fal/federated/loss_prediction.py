"""Learning loss for active learning (LL4AL; Yoo & Kweon, CVPR 2019) inside federated training.

The KAFAL paper's LL4AL baseline (its §4.1: "we train a loss prediction module for each client
model"; the KAFAL repository has no LL4AL code) attaches a small module to the backbone's intermediate
feature maps that learns to predict each sample's classification loss, trained jointly with the model
in every client's local update. Its query (fal.strategies.methods.ll4al) takes the samples with the largest
predicted loss.

Module (Yoo & Kweon's LossNet): per tapped stage, global average pooling → Linear(channels → width) →
ReLU; the concatenation → Linear(→ 1). Taps are the outputs of each resolution stage of the backbone
(``tap_points``); on KAFAL's ResNet-8 (three stages, 16/32/64 channels) with width 128 this is the
15,105 parameters ("0.015M") the KAFAL paper reports.

Loss per batch: L_target + weight · L_rank, L_target the mean of the per-sample classification losses
(the client's own: cross-entropy, or KCFU's balanced softmax) and L_rank Yoo & Kweon's margin ranking
loss on the batch's pairs (i, B−1−i), i < ⌊B/2⌋, against the detached per-sample losses:
mean of max(0, margin − s·(l̂_i − l̂_j)) with s = +1 when l_i > l_j and −1 otherwise (ties count as −1,
as in the LL4AL code). As Yoo & Kweon stop the module's gradient into the backbone after 120 of 200
epochs, here the feature maps are detached from round ⌊detach_after · rounds⌋ (0-based) of a cycle on.

The module is a submodule (``loss_module``) of the model, so its weights travel with the model: saved
in model files and checkpoints, copied to clients, averaged by FedAvg with everything else, and kept in
every last-round client model. The KAFAL paper's "a loss prediction module for each client model" has a
second reading, ``module_scope: client``: each client keeps its own module across the rounds of a cycle
(restored over the global copy before its local training, saved in round checkpoints); the global
model's module is then the unused average. The model's own ``forward`` is unchanged; the taps are read with
forward hooks held only during one call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from fal.federated.models import CNN4Conv, KafalResNet8, MobileNet, ResNet18, ResNet50
from fal.federated.sgd import LossFunction, PerSampleLoss
from fal.seeding import derive_seed


@dataclass(frozen=True)
class LossPredictionConfig:
    """The LL4AL method's options (declared with their meanings in fal.strategies.methods.ll4al)."""

    weight: float = 1.0
    margin: float = 1.0
    width: int = 128
    detach_after: float = 0.6
    module_scope: str = "federated"

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> LossPredictionConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in mapping.items() if k in names})

    def detaches(self, round_index: int, rounds: int) -> bool:
        """Whether the module's gradient stops at the feature maps in this (0-based) round of a cycle."""
        return round_index >= int(self.detach_after * rounds)

    # -- what a module trained with the model provides (fal.federated.flconfig.ModelExtension) ----------
    @property
    def keeps_client_modules(self) -> bool:
        """``module_scope: client``: each client keeps its own module across the rounds of a cycle."""
        return self.module_scope == "client"

    def attach(self, model: nn.Module, init_seed: int) -> nn.Module:
        """``model`` with a fresh loss module (``attach_loss_module``)."""
        return attach_loss_module(model, self, init_seed)

    def client_module(self, model: nn.Module) -> nn.Module:
        return cast(nn.Module, model.loss_module)

    def labelled_loss(self, criterion: PerSampleLoss, round_index: int, rounds: int) -> LossFunction:
        """LL4AL's joint loss over ``criterion``'s per-sample losses in this (0-based) round."""
        detach = self.detaches(round_index, rounds)
        return lambda net, x, y: joint_loss(net, x, y, criterion, self, detach)

    def describe(self, model: nn.Module) -> str:
        """For the training log."""
        size = sum(p.numel() for p in self.client_module(model).parameters())
        return f"a loss-prediction module (LL4AL, {size} parameters) trains with the model: {self}"


def tap_points(model: nn.Module) -> list[nn.Module]:
    """The submodules whose outputs feed the loss module: the last block of each resolution stage."""
    if isinstance(model, CNN4Conv):
        return list(model.features)
    if isinstance(model, KafalResNet8):
        return list(model.layers)
    if isinstance(model, ResNet18):
        return [model.layers[i] for i in (1, 3, 5, 7)]
    if isinstance(model, MobileNet):
        return [model.blocks[i] for i in (0, 2, 4, 10, 12)]
    if isinstance(model, ResNet50):
        return [model.net.layer1, model.net.layer2, model.net.layer3, model.net.layer4]
    raise ValueError(f"no loss-prediction taps are defined for {type(model).__name__}")


def _channels(module: nn.Module) -> int:
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    return norms[-1].num_features


class LossPredictionModule(nn.Module):
    """Yoo & Kweon's LossNet: GAP → Linear → ReLU per feature map, concatenated → Linear → one loss per sample."""

    def __init__(self, channels: list[int], width: int):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(c, width) for c in channels)
        self.out = nn.Linear(width * len(channels), 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        hidden = [torch.relu(head(m.mean(dim=(2, 3)))) for head, m in zip(self.heads, maps)]
        return self.out(torch.cat(hidden, dim=1)).squeeze(1)


def attach_loss_module(model: nn.Module, cfg: LossPredictionConfig, init_seed: int) -> nn.Module:
    """Add a fresh ``loss_module`` (weights depend only on ``init_seed``) to ``model``, in place; returns it."""
    parameter = next(model.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(init_seed, "loss_module"))
        module = LossPredictionModule([_channels(t) for t in tap_points(model)], int(cfg.width))
    model.loss_module = module.to(device=parameter.device, dtype=parameter.dtype)
    return model


@contextmanager
def captured_maps(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """The tapped feature maps of the forward passes run inside the block, in order."""
    maps: list[torch.Tensor] = []
    handles = [t.register_forward_hook(lambda _m, _i, out: maps.append(out)) for t in tap_points(model)]
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


def logits_and_predicted_loss(
    model: nn.Module, x: torch.Tensor, detach_maps: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits and its loss module's predicted loss for every sample of ``x``."""
    with captured_maps(model) as maps:
        logits, _ = model(x)
    if detach_maps:
        maps = [m.detach() for m in maps]
    return logits, cast(nn.Module, model.loss_module)(maps)


def margin_ranking_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    """Yoo & Kweon's pairwise loss: pairs (i, B−1−i) for i < ⌊B/2⌋; 0 for a batch of one."""
    half = len(predicted) // 2
    if half == 0:
        return predicted.sum() * 0.0
    predicted_diff = (predicted - predicted.flip(0))[:half]
    target_diff = (target - target.flip(0))[:half].detach()
    sign = torch.where(target_diff > 0, 1.0, -1.0).to(predicted.dtype)
    return torch.clamp(margin - sign * predicted_diff, min=0).mean()


def joint_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    criterion: PerSampleLoss,
    cfg: LossPredictionConfig,
    detach_maps: bool,
) -> torch.Tensor:
    """L_target + weight · L_rank for one labelled batch (the module learns the detached per-sample losses)."""
    logits, predicted = logits_and_predicted_loss(model, x, detach_maps)
    target = criterion(logits, y)
    return target.mean() + cfg.weight * margin_ranking_loss(predicted, target.detach(), cfg.margin)


@torch.no_grad()
def predicted_losses(model: nn.Module, bank: Any, positions: np.ndarray, batch_size: int) -> torch.Tensor:
    """The loss module's predictions (eval mode) for the images at ``positions`` of ``bank``."""
    model.eval()
    out = []
    for start in range(0, len(positions), batch_size):
        _, predicted = logits_and_predicted_loss(model, bank.batch(positions[start : start + batch_size]))
        out.append(predicted)
    return torch.cat(out) if out else torch.zeros(0)
