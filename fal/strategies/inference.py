"""Batched, no-grad forward passes of query models over image positions."""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from fal.data.images import ImageBank


@torch.no_grad()
def forward(
    model: nn.Module, bank: ImageBank, positions: np.ndarray, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and penultimate features (float32, on the bank's device) for ``positions``, eval mode."""
    model.eval()
    positions = np.asarray(positions, dtype=np.int64)
    logits, features = [], []
    for start in range(0, len(positions), batch_size):
        out, feat = model(bank.batch(positions[start : start + batch_size]))
        logits.append(out)
        features.append(feat)
    if not logits:
        params = next(model.parameters())
        dim = getattr(model, "embedding_dim", 0)
        num_out = cast(nn.Linear, model.linear).out_features if hasattr(model, "linear") else 0
        return params.new_zeros((0, num_out)), params.new_zeros((0, dim))
    return torch.cat(logits), torch.cat(features)


def probabilities(model: nn.Module, bank: ImageBank, positions: np.ndarray, batch_size: int = 1000) -> torch.Tensor:
    logits, _ = forward(model, bank, positions, batch_size)
    return torch.softmax(logits, dim=1)


def label_probabilities(
    model: nn.Module, bank: ImageBank, positions: np.ndarray, batch_size: int = 1000
) -> torch.Tensor:
    """Multi-label outputs: each label's own sigmoid probability (N × L)."""
    logits, _ = forward(model, bank, positions, batch_size)
    return torch.sigmoid(logits)
