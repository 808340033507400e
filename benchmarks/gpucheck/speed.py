"""Part c: seconds per round at the paper protocol for every trainer configuration."""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from gpucheck.common import Budget, sync, synthetic

# ------------------------------------------------------------------------------------------------
# c. speed


def speed(device, smoke: bool, budget: Budget, args) -> list[dict]:
    from fal.config.budgets import compute_budget
    from fal.config.fidelity import FidelityConfig
    from fal.config.protocol import ProtocolConfig
    from fal.config.runtime import RuntimeConfig
    from fal.config.setting import SettingConfig
    from fal.data.images import ImageBank
    from fal.federated.flconfig import FLConfig
    from fal.federated.models import build_model
    from fal.federated.training import ClientData, FederatedCycle, Trainer, TrainingHooks, train_sequential
    from fal.federated.vectorised import VectorisedOptions, train_vectorised
    from fal.job import configure
    from fal.plan.catalog import dataset_spec
    from fal.plan.checks import training_images

    spec = dataset_spec("fmnist_lt")
    clients_n = 3 if smoke else 10
    rounds = 1 if smoke else args.speed_rounds
    protocol = ProtocolConfig(rounds=rounds, local_epochs=1 if smoke else 5)
    cfg = FLConfig.from_protocol(protocol, FidelityConfig())
    num_train = training_images(SettingConfig(dataset="fmnist_lt", rho=20, alpha=0.1, num_clients=10))
    paper = ProtocolConfig()
    budget_rule = compute_budget(num_train, 10, paper.initial_ratio, paper.query_ratio, paper.end_ratio)
    ratios = [0.05] if smoke else [0.05, 0.45]
    precisions = ["fp32", "bf16"] if smoke else ["fp32", "tf32", "bf16"]
    configs = [("sequential", "off")] + [
        ("vectorised", mode) for mode in (["off"] if smoke else ["off", "default", "reduce-overhead"])
    ]
    arrays = synthetic(10, 60 if smoke else 700, 20 if smoke else 1000, seed=11)
    mean, std = spec.channel_mean(), spec.channel_std()
    test_bank = ImageBank(arrays.test_images, mean, std, device)
    rows = []
    for ratio in ratios:
        cycles = round((ratio - paper.initial_ratio) / paper.query_ratio)
        per_client = budget_rule.per_client_initial + cycles * budget_rule.per_client_query
        per_client = min(per_client, len(arrays.train_labels) // clients_n) if smoke else per_client
        index = np.arange(per_client * clients_n) % len(arrays.train_labels)
        bank = ImageBank(arrays.train_images[index], mean, std, device)
        labels = arrays.train_labels[index]
        clients = [
            ClientData(np.arange(k * per_client, (k + 1) * per_client), labels[k * per_client : (k + 1) * per_client])
            for k in range(clients_n)
        ]
        for precision in precisions:
            configure(RuntimeConfig(device=str(device), threads=args.threads, precision=precision))
            for trainer, compile_mode in configs:
                name = f"{trainer}{'' if compile_mode == 'off' else ' + compile ' + compile_mode}"
                row = {"labelled": ratio, "per_client": per_client, "config": name, "precision": precision}
                if trainer == "sequential" and precision == "bf16":
                    continue  # bf16 is a vectorised-trainer switch
                if precision != "fp32" and device.type != "cuda":
                    rows.append({**row, "status": f"skipped ({precision} needs CUDA)"})
                    continue
                if budget.left() < 5:
                    rows.append({**row, "status": "skipped (budget)"})
                    continue
                model = build_model("cnn4conv", spec, 0, device)
                stamps: list[float] = []
                run: Trainer = (
                    partial(train_vectorised, options=VectorisedOptions(compile=compile_mode, precision=precision))
                    if trainer == "vectorised"
                    else train_sequential
                )
                start = time.perf_counter()
                try:
                    result = run(
                        FederatedCycle(
                            model,
                            clients,
                            bank,
                            test_bank,
                            arrays.test_labels,
                            spec.num_classes,
                            cfg,
                            seed_keys=(1, "speed"),
                        ),
                        TrainingHooks(
                            eval_batch_size=4096 if device.type == "cuda" else 256,
                            progress=lambda _row, stamps=stamps: stamps.append(time.perf_counter()),
                        ),
                    )
                    sync(device)
                    times = np.diff([start, *stamps])
                    row.update(
                        status="pass",
                        first_round_s=round(float(times[0]), 3),
                        round_s=round(float(np.median(times[1:]) if len(times) > 1 else times[0]), 3),
                        accuracy=round(float(result.rounds["test_acc"].iloc[-1]), 2),
                    )
                except Exception as exc:
                    row.update(status=f"FAIL: {type(exc).__name__}: {str(exc)[:200]}")
                rows.append(row)
    configure(RuntimeConfig(device=str(device), threads=args.threads))
    return rows


def fastest_passing(speed_rows: list[dict]) -> dict:
    """The fastest (trainer, compile, precision) at the largest labelled ratio whose accuracy did not collapse."""
    ok = [r for r in speed_rows if r.get("status") == "pass"]
    if not ok:
        return {"config": "sequential", "precision": "fp32"}
    top = max(r["labelled"] for r in ok)
    candidates = [r for r in ok if r["labelled"] == top]
    reference = next((r["accuracy"] for r in candidates if r["config"] == "sequential"), None)
    if reference is not None:
        candidates = [r for r in candidates if r["accuracy"] >= reference - 5.0] or candidates
    return min(candidates, key=lambda r: r["round_s"])
