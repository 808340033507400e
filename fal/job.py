"""Process-level runtime set-up for one pipeline job: device, CPU threads, determinism, logging.

Called once by each workflow script at start-up; the library functions themselves only take the
device they are given. Importing this module does not import torch (light jobs stay fast).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # annotations only: importing this module loads neither torch nor fal.config
    import torch

    from fal.config.runtime import RuntimeConfig


def resolve_device(device: str) -> torch.device:
    """``auto``: CUDA when present. With several visible GPUs (a workstation running many jobs at
    once), each job claims the GPU that the fewest running jobs hold (see ``claim_least_busy_gpu``);
    on a SLURM GPU job only the allocated GPU is visible, so nothing is claimed."""
    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        count = torch.cuda.device_count()
        if count == 1:
            return torch.device("cuda")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
        tag = re.sub(r"[^A-Za-z0-9,-]", "_", visible).replace(",", "_")[:100]
        lock_dir = Path(tempfile.gettempdir()) / f"fal-gpu-claims-{os.getuid()}-{tag}"
        return torch.device(f"cuda:{claim_least_busy_gpu(count, lock_dir)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"runtime.device is {device!r} but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(device)


def claim_least_busy_gpu(count: int, lock_dir: Path) -> int:
    """Pick the GPU index (0..count-1) that the fewest live processes have claimed, and claim it.

    A claim is an exclusive ``flock`` on ``lock_dir/gpu<i>-<pid>.lock``; it is held for the rest
    of this process's life through a raw descriptor that is never closed, so the kernel releases it
    when the job ends, however it ends (``kill -9`` included). Choosing happens under a lock on
    ``lock_dir/.choose``, so jobs starting together spread over the GPUs instead of all seeing them
    idle. Claims left by dead processes are removed.
    """
    import fcntl

    lock_dir.mkdir(parents=True, exist_ok=True)
    guard = os.open(lock_dir / ".choose", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        busy = [0] * count
        for path in lock_dir.glob("gpu*-*.lock"):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)  # its holder has exited
            except BlockingIOError:
                index = int(path.name[3:].split("-")[0])
                if index < count:
                    busy[index] += 1
            finally:
                os.close(fd)
        choice = min(range(count), key=lambda i: (busy[i], i))
        claim = os.open(lock_dir / f"gpu{choice}-{os.getpid()}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(claim, fcntl.LOCK_EX)  # never closed on purpose: released when the process exits
        return choice
    finally:
        os.close(guard)


def configure(runtime: RuntimeConfig) -> torch.device:
    """Set threads and determinism for this process; return the device (a ``torch.device``).

    One thread per job is the default: two 2-thread jobs on 2 cores run about 4× slower than two
    1-thread jobs.
    """
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
    """Context manager around a job's work: with ``job`` (the script's ``snakemake`` object), check the
    job's result inputs against their content digests first (fal.integrity) and, on success, seal its
    outputs (their digests and lineage); log an exception (with traceback) to the job's log before it
    propagates; on success log the ``fal`` modules the job ran (its code provenance: the rule's code
    hash covers them)."""

    def __init__(self, logger: logging.Logger, job: Any = None):
        self.logger = logger
        self.job = job

    def __enter__(self) -> logging.Logger:
        if self.job is not None:
            from fal.integrity import DamagedResultError, unseal, verify_inputs

            unseal(self.job.output)  # being rewritten: no digest until this job succeeds

            paths = self.job.config["paths"]
            try:
                verify_inputs(
                    self.job.input, managed=[paths["results"], paths["data_cache"]], skip=[paths["data_cache"]]
                )
            except DamagedResultError as exc:  # one line naming the file and the fix, no traceback
                self.logger.error("FAILED: %s", exc)
                raise SystemExit(f"{self.job.rule}: {exc}") from None
        return self.logger

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is not None:
            self.logger.error("FAILED: %s: %s", type(exc).__name__, exc, exc_info=(type(exc), exc, tb))
            return False
        if self.job is not None:
            from fal.integrity import seal

            seal(self.job.output, self.job.input, self.job.rule)
        self.logger.info("fal modules used: %s", " ".join(loaded_fal_modules()))
        return False


def loaded_fal_modules() -> list[str]:
    """The ``fal`` modules imported in this process so far."""
    return sorted(name for name in sys.modules if name == "fal" or name.startswith("fal."))
