"""What every part of the GPU check shares: the wall-clock budget, the project root, small helpers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

LOG = logging.getLogger("gpu_check")
PARTS = {  # share of the budget; unused time rolls over to the next part
    "environment": 0.01,
    "correctness": 0.17,
    "speed": 0.27,
    "full_run": 0.33,
    "concurrency": 0.17,
    "projection": 0.05,
}
MIN_TORCH = (2, 4)


@dataclass
class Budget:
    """A hard wall-clock budget split into per-part deadlines."""

    total_s: float
    start: float = field(default_factory=time.perf_counter)
    part_end: float = 0.0

    def begin(self, part: str) -> None:
        shares = list(PARTS)
        used = sum(PARTS[p] for p in shares[: shares.index(part) + 1])
        self.part_end = self.start + used * self.total_s

    def left(self) -> float:
        """Seconds left in the current part (never past the total budget)."""
        now = time.perf_counter()
        return max(0.0, min(self.part_end, self.start + self.total_s) - now)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# ------------------------------------------------------------------------------------------------
# helpers


def synthetic(num_classes: int, per_class: int, test_per_class: int, seed: int):
    """The tests' synthetic data (fal.data.synthetic), 1 channel of 28 px."""
    from fal.data.synthetic import synthetic_arrays

    return synthetic_arrays(num_classes, per_class, test_per_class, channels=1, size=28, seed=seed)


def fl_config(algorithm: str, rounds: int, lr: float = 0.05, mu: float = 0.01, local_epochs: int = 2, batch: int = 8):
    from fal.federated.flconfig import FLConfig

    return FLConfig(
        rounds=rounds,
        local_epochs=local_epochs,
        batch_size=batch,
        lr=lr,
        momentum=0.9,
        weight_decay=1e-4,
        lr_decay=0.1,
        lr_decay_at=0.5,
        client_fraction=1.0,
        algorithm=algorithm,
        fedprox_mu=mu,
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def max_difference(a, b) -> float:
    worst = 0.0
    for key, x in a.state_dict.items():
        y = b.state_dict[key]
        if x.is_floating_point():
            worst = max(worst, float((x.double() - y.double()).abs().max()))
        elif not torch.equal(x, y):
            return float("inf")
    return worst
