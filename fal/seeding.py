"""Explicit random generators derived from (seed, stage, cycle, round, client, …) keys.

No stage reads or writes a global RNG. Deriving every generator from a key makes results independent
of execution order (clients processed in any order, a rule rerun alone) and therefore resumable.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: torch is imported when a generator is made
    import torch


def derive_seed(*keys: int | str) -> int:
    """A 63-bit seed that depends only on ``keys`` (strings are hashed, ints used as they are)."""
    entropy = []
    for key in keys:
        if isinstance(key, str):
            entropy.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if key < 0:
                raise ValueError(f"seed keys must be non-negative, got {key}")
            entropy.append(int(key))
        else:
            raise TypeError(f"seed keys must be int or str, got {type(key).__name__}")
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def numpy_rng(*keys: int | str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(*keys))


def torch_generator(*keys: int | str, device: str = "cpu") -> torch.Generator:
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(*keys))
    return generator
