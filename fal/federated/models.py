"""Models (reference-spec §3). Every model returns ``(logits, features)``."""

from __future__ import annotations

import torch
from torch import nn

from fal.data.datasets import DatasetSpec


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels, track_running_stats=True),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class CNN4Conv(nn.Module):
    """The 4-layer CNN of FairFAL and LoGo (§3.1): 4 × [conv3×3(64), BN, ReLU, maxpool 2], linear head.

    The embedding is 64-d at 28 px and 256-d at 32 px. The head's bias starts at zero.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, hidden: int = 64):
        super().__init__()
        size = image_size
        for _ in range(4):
            size //= 2
        if size < 1:
            raise ValueError(f"image size {image_size} is too small for 4 max-pool stages")
        self.embedding_dim = hidden * size * size
        self.features = nn.Sequential(
            _conv_block(in_channels, hidden),
            _conv_block(hidden, hidden),
            _conv_block(hidden, hidden),
            _conv_block(hidden, hidden),
        )
        self.linear = nn.Linear(self.embedding_dim, num_classes)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x).flatten(1)
        return self.linear(features), features


def build_model(name: str, spec: DatasetSpec, init_seed: int, device: torch.device | str = "cpu") -> nn.Module:
    """A freshly initialised model whose weights depend only on ``init_seed``.

    PyTorch's default initialisers read the global RNG; ``fork_rng`` confines that to this call, so no
    global state leaks out. Weights are kept channels-last (see fal.data.images).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        if name == "cnn4conv":
            model = CNN4Conv(spec.channels, spec.num_classes, spec.image_size)
        else:
            raise ValueError(f"unknown model {name!r}")
    return model.to(device=device, memory_format=torch.channels_last)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
