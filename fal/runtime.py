"""Process-level runtime set-up for one pipeline job: device, CPU threads, determinism, logging.

Called once by each workflow script at start-up; the library functions themselves only take the
device they are given. Importing this module does not import torch (light jobs stay fast).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from fal.config import RuntimeConfig


def resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"runtime.device is {device!r} but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(device)


def configure(runtime: RuntimeConfig):
    """Set threads and determinism for this process; return the device (a ``torch.device``).

    One thread per job is the default: two 2-thread jobs on 2 cores run about 4× slower than two
    1-thread jobs.
    """
    import os

    import torch

    torch.set_num_threads(runtime.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
    if runtime.deterministic:
        # CPU kernels used here are deterministic for a fixed thread count. On CUDA, ask for
        # deterministic kernels: cuDNN without autotuning, cuBLAS with a fixed workspace (must be set
        # before CUDA initialises), and torch's deterministic algorithms. Ops that have none log a
        # warning instead of failing the job.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
    # TF32 tensor cores for CUDA matmuls and convolutions (off unless asked for: it changes results
    # beyond the last bits). bf16 is applied by the vectorised trainer itself.
    tf32 = runtime.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return resolve_device(runtime.device)


def job_logger(name: str, log_path: str | Path | None) -> logging.Logger:
    """A logger writing timestamped lines to the rule's log file (and stderr)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class logged_failures:
    """Context manager: log an exception (with traceback) to the job's log before it propagates."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def __enter__(self) -> logging.Logger:
        return self.logger

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            self.logger.error("FAILED: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
        return False
