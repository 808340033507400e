"""Images kept as uint8 on the compute device; flip and normalisation happen per batch there.

This replaces torchvision's PIL pipeline (ToTensor → Normalize, with RandomHorizontalFlip for the
training view) with the same arithmetic on whole batches. Images are stored channels-last (N, H, W, C)
and batches come out as NCHW tensors in channels-last memory format, which oneDNN and cuDNN run
fastest (1.5× for training, 2–3× for inference of the 4-layer CNN on one CPU core).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch


class ImageSource(Protocol):
    """What training, evaluation and scoring read images through: an ``ImageBank`` or a view of one."""

    device: torch.device

    def __len__(self) -> int: ...

    def batch(
        self, index: torch.Tensor, flip: torch.Tensor | None = None, offsets: torch.Tensor | None = None
    ) -> torch.Tensor: ...


def random_crop(images: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """torchvision's RandomCrop(size, padding) on a batch of uint8 images (N, H, W, C): zero padding by
    ``padding`` on every side, then the H × W window at ``offsets`` (N, 2: row, column; each in
    0..2·padding) of each image."""
    n, h, w, c = images.shape
    padded = images.new_zeros((n, h + 2 * padding, w + 2 * padding, c))
    padded[:, padding : padding + h, padding : padding + w] = images
    offsets = offsets.to(images.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)
    return padded[torch.arange(n, device=images.device)[:, None, None], rows[:, :, None], cols[:, None, :]]


class ImageBank:
    """A uint8 image array (N, C, H, W) with its normalisation constants, on one device."""

    def __init__(
        self,
        images: np.ndarray,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device | str,
        crop_padding: int = 0,
    ):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"ImageBank needs uint8 images of shape (N, C, H, W), got {images.dtype} {images.shape}")
        channels = images.shape[1]
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"{channels} channels but {len(mean)} means and {len(std)} stds")
        self.device = torch.device(device)
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 2, 3, 1))).to(self.device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.crop_padding = crop_padding
        """Training batches are random-cropped with this padding (0: never); the training loops draw
        the offsets (``crop_offsets``) and pass them to ``batch``."""

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(
        self,
        index: torch.Tensor | np.ndarray,
        flip: torch.Tensor | None = None,
        offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalised float32 images at ``index``; with ``offsets`` (N, 2) each is first random-cropped
        (``random_crop`` with the bank's padding); rows where ``flip`` is True are mirrored left–right."""
        if isinstance(index, np.ndarray):
            index = torch.tensor(index, dtype=torch.long)
        images = self.images[index.to(self.device)]
        if offsets is not None:
            images = random_crop(images, offsets, self.crop_padding)
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        if flip is not None:
            flip = flip.to(self.device).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(3), x)
        x = x.contiguous(memory_format=torch.channels_last)
        return x.sub_(self.mean).div_(self.std)

    def crop_offsets(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """Crop offsets for ``n`` training images from ``generator``, or None (drawing nothing, so the
        generator's stream is unchanged) when this bank does not crop."""
        if not self.crop_padding:
            return None
        return torch.randint(0, 2 * self.crop_padding + 1, (n, 2), generator=generator)
