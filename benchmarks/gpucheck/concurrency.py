"""Part e: several cycle-1 trainings as separate processes → runs per GPU-hour."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import numpy as np

from gpucheck.common import ROOT, Budget, sync, synthetic

# ------------------------------------------------------------------------------------------------
# e. concurrency


def concurrency(device, smoke: bool, budget: Budget) -> list[dict]:
    levels = [1, 2] if smoke else [1, 4, 8]
    rows = []
    for level in levels:
        if budget.left() < 10:
            rows.append({"processes": level, "status": "skipped (budget)"})
            continue
        cmd = [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--worker",
            "--device",
            str(device),
            "--threads",
            "1",
        ]
        if smoke:
            cmd.append("--smoke")
        start = time.perf_counter()
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(level)]
        outs = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=max(5.0, budget.left()))
                outs.append(json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 else {"error": err[-300:]})
            except subprocess.TimeoutExpired:
                proc.kill()
                outs.append({"error": "timed out (budget)"})
        wall = time.perf_counter() - start
        done = [o for o in outs if "seconds" in o]
        rows.append(
            {
                "processes": level,
                "status": "pass"
                if len(done) == level
                else "FAIL: " + "; ".join(o.get("error", "") for o in outs if "error" in o),
                "wall_s": round(wall, 2),
                "runs_per_hour": round(3600 * len(done) / wall, 1),
                "worker_s_median": round(statistics.median(o["seconds"] for o in done), 2) if done else None,
            }
        )
    return rows


def worker(args) -> None:
    """One cycle-1 training of the paper protocol at 5 % labelled (or a tiny one with --smoke); prints JSON."""
    from fal.config.fidelity import FidelityConfig
    from fal.config.protocol import ProtocolConfig
    from fal.config.runtime import RuntimeConfig
    from fal.data.images import ImageBank
    from fal.federated.flconfig import FLConfig
    from fal.federated.models import build_model
    from fal.federated.training import ClientData, FederatedCycle, TrainingHooks, train_sequential
    from fal.federated.vectorised import train_vectorised
    from fal.job import configure
    from fal.plan.catalog import dataset_spec

    device = configure(RuntimeConfig(device=args.device, threads=args.threads))
    spec = dataset_spec("fmnist_lt")
    smoke = args.smoke
    protocol = ProtocolConfig(rounds=1 if smoke else args.worker_rounds, local_epochs=1 if smoke else 5)
    clients_n, per_client = (2, 20) if smoke else (10, 102)
    arrays = synthetic(10, per_client * clients_n // 10 + 1, 10 if smoke else 1000, seed=2)
    mean, std = spec.channel_mean(), spec.channel_std()
    bank = ImageBank(arrays.train_images, mean, std, device)
    clients = [
        ClientData(
            np.arange(k * per_client, (k + 1) * per_client), arrays.train_labels[k * per_client : (k + 1) * per_client]
        )
        for k in range(clients_n)
    ]
    start = time.perf_counter()
    trainer = train_vectorised if device.type == "cuda" else train_sequential
    trainer(
        FederatedCycle(
            build_model("cnn4conv", spec, 0, device),
            clients,
            bank,
            ImageBank(arrays.test_images, mean, std, device),
            arrays.test_labels,
            10,
            FLConfig.from_protocol(protocol, FidelityConfig()),
            seed_keys=(1, "worker"),
        ),
        TrainingHooks(eval_batch_size=4096 if device.type == "cuda" else 256),
    )
    sync(device)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rounds": protocol.rounds}))
