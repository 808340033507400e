"""How jobs compute (device, threads, trainer, checkpoints); none of it changes results beyond float noise."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fal.config.base import build_config, check


@dataclass(frozen=True)
class RuntimeConfig:
    """How a job computes; none of these change results beyond floating-point noise."""

    device: str = "auto"
    threads: int = 1
    deterministic: bool = True
    inference_batch_size: int | None = None
    """Batch size of no-grad forward passes (evaluation, query scoring); None = 128 on CPU, 4096 on CUDA."""
    checkpoint_every: int = 10
    """Training jobs save their state every N rounds and resume from it when rerun (at least twice per
    cycle, so a short cycle checkpoints too: ``checkpoint_interval``); 0 = never."""
    trainer: str = "auto"
    """FL trainer: "sequential" (one client after another), "vectorised" (all clients of a round in one
    batched step), "auto" = vectorised on CUDA, sequential on CPU (where it is faster)."""
    compile: str = "off"
    """Vectorised trainer only: torch.compile its step ("default"), or with CUDA graphs ("reduce-overhead")."""
    precision: str = "fp32"
    """"tf32" lets CUDA matmuls/convolutions use TF32; "bf16" autocasts the vectorised trainer's forward."""

    def resolved_trainer(self, device: object) -> str:
        if self.trainer != "auto":
            return self.trainer
        return "vectorised" if str(device).startswith("cuda") else "sequential"

    def checkpoint_interval(self, rounds: int) -> int:
        """Rounds between a training job's checkpoints: ``checkpoint_every``, or half the cycle's rounds when
        that is sooner (the quick preset's 5-round cycles save after rounds 2 and 4); 0 = never."""
        if self.checkpoint_every <= 0:
            return 0
        return min(self.checkpoint_every, max(1, rounds // 2))

    def inference_batch(self, device: object) -> int:
        if self.inference_batch_size is not None:
            return self.inference_batch_size
        return 4096 if str(device).startswith("cuda") else 128

    def validate(self, where: str) -> None:
        check(
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
            f"{where}.device",
            f"must be auto, cpu, cuda or cuda:N, got {self.device!r}",
        )
        check(
            isinstance(self.threads, int) and self.threads >= 1,
            f"{where}.threads",
            f"must be an integer >= 1, got {self.threads!r}",
        )
        check(isinstance(self.deterministic, bool), f"{where}.deterministic", "must be true or false")
        check(
            isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 0,
            f"{where}.checkpoint_every",
            f"must be an integer >= 0, got {self.checkpoint_every!r}",
        )
        check(self.trainer in TRAINERS, f"{where}.trainer", f"must be one of {list(TRAINERS)}, got {self.trainer!r}")
        check(
            self.compile in COMPILE_MODES,
            f"{where}.compile",
            f"must be one of {list(COMPILE_MODES)}, got {self.compile!r}",
        )
        check(
            self.precision in PRECISIONS,
            f"{where}.precision",
            f"must be one of {list(PRECISIONS)}, got {self.precision!r}",
        )
        if self.inference_batch_size is not None:
            check(
                isinstance(self.inference_batch_size, int) and self.inference_batch_size >= 1,
                f"{where}.inference_batch_size",
                f"must be an integer >= 1 or null, got {self.inference_batch_size!r}",
            )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None, where: str = "runtime") -> RuntimeConfig:
        return build_config(cls, mapping, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRAINERS = ("auto", "sequential", "vectorised")
COMPILE_MODES = ("off", "default", "reduce-overhead")
PRECISIONS = ("fp32", "tf32", "bf16")
