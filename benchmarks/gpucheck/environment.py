"""Part a: the environment (GPU, driver, torch/CUDA versions, the project's commit)."""

from __future__ import annotations

import os
import platform
import subprocess

import torch

from gpucheck.common import MIN_TORCH, ROOT

# ------------------------------------------------------------------------------------------------
# a. environment


def part_environment(device: torch.device) -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "device": str(device),
        "cpu_count": os.cpu_count(),
        "commit": _commit(),
    }
    info["torch_supported"] = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= MIN_TORCH
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), driver=_driver())
        info["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
    return info


def _commit() -> str:
    marker = ROOT / "COMMIT"  # written by `make gpu-check-bundle` when the tree travels without .git
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip()
    except OSError:
        pass
    return marker.read_text().strip() if marker.exists() else "unknown (no git; write the commit to COMMIT)"


def _driver() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown (no nvidia-smi)"
