"""Where a number was computed: the software and hardware a training or query job ran on.

Floating-point results depend on the kernels torch picks for the machine (AVX2 or AVX-512 on x86-64
CPUs, the GPU model, cuDNN), so two correct installs can disagree in the last digits and, over a
hundred federated rounds, in the second decimal of an accuracy. Each compute job writes its
*fingerprint* into its Parquet output's metadata; metrics and tables carry the distinct fingerprints on
(``describe`` makes the line the tables print), and ``likely_reason`` tells a user comparing two reports
whether a difference is the machine's or something else.

A fingerprint holds nothing that changes between two runs on one machine (no host name, no time), so a
rerun stays byte-identical.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow.parquet as pq

METADATA_KEY = b"fal.provenance"
"""The Parquet schema-metadata key holding a JSON list of fingerprints with their job counts."""

KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS")
"""Environment variables that change which CPU kernels run; recorded when set."""

DETERMINING = (
    "torch",
    "device",
    "cpu",
    "cpu_capability",
    "gpu",
    "cuda",
    "cudnn",
    "precision",
    "trainer",
    "kernel_pins",
)
"""The fields that decide the floating-point results (threads are fixed by the runtime config)."""


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fingerprint(device: Any, precision: str = "fp32", trainer: str = "") -> dict[str, str]:
    """This process's fingerprint for a job computing on ``device`` (a ``torch.device``) with
    ``precision`` (runtime.precision; CUDA only) and, for training jobs, ``trainer``."""
    import numpy as np
    import torch

    on_cuda = getattr(device, "type", str(device)) == "cuda"
    pins = " ".join(f"{name}={os.environ[name]}" for name in KERNEL_VARIABLES if os.environ.get(name))
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "device": str(device),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "gpu": torch.cuda.get_device_name(device) if on_cuda else "",
        "cuda": str(torch.version.cuda or "") if on_cuda else "",
        "cudnn": str(torch.backends.cudnn.version() or "") if on_cuda else "",
        "threads": str(torch.get_num_threads()),
        "deterministic": str(torch.are_deterministic_algorithms_enabled()).lower(),
        "precision": precision if on_cuda else "fp32",
        "trainer": trainer,
        "kernel_pins": pins,
    }


def parquet_metadata(fingerprints: Iterable[Mapping[str, Any]]) -> dict[bytes, bytes]:
    """Schema metadata recording ``fingerprints``: each job's fingerprint, with ``job`` (the file the job
    wrote) where it is known, so that a job read by several runs (the shared cycle 1) counts once."""
    unique = sorted({json.dumps(dict(item), sort_keys=True) for item in fingerprints})
    return {METADATA_KEY: ("[" + ",".join(unique) + "]").encode()}


def merge(fingerprints: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Distinct fingerprints with how many jobs ran on each (distinct ``job`` entries, plus the ``jobs``
    counts of entries without one), in a stable order."""
    jobs: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for item in fingerprints:
        item = dict(item)
        job = item.pop("job", None)
        count = int(item.pop("jobs", 1))
        key = json.dumps(item, sort_keys=True)
        jobs.setdefault(key, set())
        counts.setdefault(key, 0)
        if job is None:
            counts[key] += count
        else:
            jobs[key].add(str(job))
    return [{**json.loads(key), "jobs": len(jobs[key]) + counts[key]} for key in sorted(counts)]


def with_jobs(path: Any) -> list[dict[str, Any]]:
    """The fingerprints recorded in a compute job's output, each tagged with that file (its job)."""
    return [{**item, "job": str(path)} if "job" not in item else item for item in read_fingerprints(path)]


def read_fingerprints(path: Any) -> list[dict[str, Any]]:
    """The fingerprints recorded in a Parquet file's metadata (empty when it has none)."""
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(METADATA_KEY)
    return json.loads(raw) if raw else []


def describe_one(item: Mapping[str, Any]) -> str:
    where = f"{item.get('gpu')} (CUDA {item.get('cuda')}, cuDNN {item.get('cudnn')})" if item.get("gpu") else "CPU"
    text = (
        f"torch {item.get('torch')}, Python {item.get('python')}, NumPy {item.get('numpy')} on {where}; "
        f"CPU {item.get('cpu')} with {item.get('cpu_capability')} kernels, {item.get('threads')} thread(s), "
        f"deterministic {item.get('deterministic')}, {item.get('precision')}"
    )
    if item.get("trainer"):
        text += f", {item['trainer']} trainer"
    if item.get("kernel_pins"):
        text += f", pinned {item['kernel_pins']}"
    return text


def machines(fingerprints: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The fingerprints merged per machine and software (training and query jobs of one machine
    together), each with its job count and the trainers its training jobs used."""
    groups: dict[str, dict[str, Any]] = {}
    for item in merge(fingerprints):
        key = json.dumps({k: v for k, v in item.items() if k not in ("jobs", "trainer")}, sort_keys=True)
        group = groups.setdefault(key, {**json.loads(key), "jobs": 0, "trainers": set()})
        group["jobs"] += item["jobs"]
        if item.get("trainer"):
            group["trainers"].add(item["trainer"])
    out = []
    for key in sorted(groups):
        group = groups[key]
        out.append({**group, "trainer": "/".join(sorted(group.pop("trainers")))})
    return out


def describe(fingerprints: Iterable[Mapping[str, Any]]) -> str:
    """One line saying where the numbers were computed ("Computed with ..."), every machine named."""
    items = machines(fingerprints)
    if not items:
        return "Computed with: unrecorded environment (results written before provenance was recorded)."
    if len(items) == 1:
        return f"Computed with: {describe_one(items[0])}."
    parts = [f"{describe_one(item)} ({item['jobs']} jobs)" for item in items]
    return "Computed with, on several machines: " + "; ".join(parts) + "."


def likely_reason(committed: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]) -> str:
    """Why two reports' numbers may differ, judged from their fingerprints."""
    old, new = merge(committed), merge(current)
    if not old or not new:
        return "one of the reports records no environment; the reason cannot be told from it"
    differences = []
    for field in DETERMINING:
        before = sorted({str(item[field]) for item in old if item.get(field)})
        after = sorted({str(item[field]) for item in new if item.get(field)})
        if before != after:
            differences.append(f"{field} {' / '.join(before) or '-'} → {' / '.join(after) or '-'}")
    if differences:
        return "different machine or software: " + "; ".join(differences)
    return (
        "same software and kernels: a difference is not explained by the machine; "
        "check for local code or configuration changes (git status) and rerun"
    )
