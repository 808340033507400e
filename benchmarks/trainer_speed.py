"""Sequential vs vectorised FL trainer, side by side in one run: one round and one cycle at 5% and 45%
labelled, with the paper's client sizes (FMNIST-LT ρ = 20: 102 and 918 labelled images per client,
10 clients), the paper's protocol per round (5 local epochs, batch 64, SGD) and evaluation on a
10,000-image test set after every round.

    .venv/bin/python benchmarks/trainer_speed.py                                  # GPU if present, 100 rounds
    .venv/bin/python benchmarks/trainer_speed.py --device cpu --rounds 2 --repeats 3
    .venv/bin/python benchmarks/trainer_speed.py --small                          # seconds, for CI
    .venv/bin/python benchmarks/trainer_speed.py --device cuda --compile reduce-overhead --precision tf32

Images are random uint8 arrays of the dataset's shape (speed does not depend on their content).
Per configuration, the two trainers alternate within every repeat so that load from other processes
hits both alike; the table gives medians over repeats. ``round_s`` is the median wall time of one
round (local training of every client, aggregation, test evaluation) after the first; ``cycle_s`` the
time of ``--rounds`` rounds (``cycle_cpu_s`` its process CPU time, steadier than wall time on a shared
machine); with fewer than the protocol's rounds, ``cycle_est_s`` extrapolates to them
(first round + the rest at ``round_s``). ``ratio`` = sequential / vectorised (> 1: vectorised faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

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


def per_client_labelled(dataset: str, rho: float, clients: int, ratio: float, protocol: ProtocolConfig) -> int:
    """Labelled images per client at ``ratio`` under the protocol's budget (§2.1)."""
    num_train = training_images(SettingConfig(dataset=dataset, rho=rho, alpha=0.1, num_clients=clients))
    budget = compute_budget(num_train, clients, protocol.initial_ratio, protocol.query_ratio, protocol.end_ratio)
    cycles = round((ratio - protocol.initial_ratio) / protocol.query_ratio)
    return budget.per_client_initial + cycles * budget.per_client_query


def time_cycle(trainer, args, spec, cfg, clients, bank, test_bank, test_labels, device, options) -> dict:
    model = build_model(args.model, spec, 0, device)
    stamps = []
    run: Trainer = partial(train_vectorised, options=options) if trainer is train_vectorised else trainer
    start, cpu_start = time.perf_counter(), time.process_time()
    run(
        FederatedCycle(model, clients, bank, test_bank, test_labels, spec.num_classes, cfg, seed_keys=(1, "bench")),
        TrainingHooks(eval_batch_size=args.eval_batch, progress=lambda _row: stamps.append(time.perf_counter())),
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    rounds = np.diff([start, *stamps])
    return {
        "cycle_s": total,
        "cycle_cpu_s": time.process_time() - cpu_start,
        "first_round_s": float(rounds[0]),
        "round_s": float(np.median(rounds[1:]) if len(rounds) > 1 else rounds[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", default="fmnist_lt")
    parser.add_argument("--rho", type=float, default=20)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.05, 0.45])
    parser.add_argument("--rounds", type=int, default=100, help="rounds per cycle (paper: 100)")
    parser.add_argument("--local-epochs", type=int, default=5)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--model", default="cnn4conv")
    parser.add_argument("--algorithm", default="fedavg", choices=["fedavg", "fedprox", "scaffold"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trainers", nargs="+", default=["sequential", "vectorised"])
    parser.add_argument("--compile", default="off", choices=["off", "default", "reduce-overhead"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    parser.add_argument("--eval-batch", type=int, default=None, help="default: 128 on CPU, 4096 on CUDA")
    parser.add_argument(
        "--small",
        action="store_true",
        help="CI size: 3 clients, 2 rounds, 1 local epoch, 200 test images, 1 repeat, 5%% only",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.small:
        args.clients, args.rounds, args.local_epochs, args.test_size, args.repeats, args.ratios = (
            3,
            2,
            1,
            200,
            1,
            [0.05],
        )

    runtime = RuntimeConfig(device=args.device, threads=args.threads, deterministic=True, precision=args.precision)
    device = configure(runtime)
    args.eval_batch = args.eval_batch or runtime.inference_batch(device)
    spec = dataset_spec(args.dataset)
    protocol = ProtocolConfig(rounds=args.rounds, local_epochs=args.local_epochs, fl_algorithm=args.algorithm)
    cfg = FLConfig.from_protocol(protocol, FidelityConfig())
    options = VectorisedOptions(compile=args.compile, precision=args.precision)
    trainers = {"sequential": train_sequential, "vectorised": train_vectorised}

    rng = np.random.default_rng(0)
    shape = (spec.channels, spec.image_size, spec.image_size)
    mean, std = spec.channel_mean(), spec.channel_std()
    test_bank = ImageBank(rng.integers(0, 256, (args.test_size, *shape), dtype=np.uint8), mean, std, device)
    test_labels = rng.integers(0, spec.num_classes, args.test_size)
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{args.threads} CPU thread(s)'}), "
        f"torch {torch.__version__}, model {args.model}, {args.algorithm}, {args.clients} clients, {args.rounds} rounds × "
        f"{args.local_epochs} local epochs, test {args.test_size}, compile {args.compile}, precision {args.precision}"
    )
    results = []
    for ratio in args.ratios:
        n = per_client_labelled(args.dataset, args.rho, args.clients, ratio, ProtocolConfig())
        images = rng.integers(0, 256, (n * args.clients, *shape), dtype=np.uint8)
        labels = rng.integers(0, spec.num_classes, n * args.clients)
        bank = ImageBank(images, mean, std, device)
        clients = [ClientData(np.arange(k * n, (k + 1) * n), labels[k * n : (k + 1) * n]) for k in range(args.clients)]
        runs = {name: [] for name in args.trainers}
        for _ in range(args.repeats):
            for name in args.trainers:
                runs[name].append(
                    time_cycle(trainers[name], args, spec, cfg, clients, bank, test_bank, test_labels, device, options)
                )
        for name, measured in runs.items():
            row = {"ratio": ratio, "per_client": n, "trainer": name, "repeats": len(measured)}
            for key in ("first_round_s", "round_s", "cycle_s", "cycle_cpu_s"):
                row[key] = statistics.median(m[key] for m in measured)
            row["cycle_est_s"] = row["first_round_s"] + (ProtocolConfig().rounds - 1) * row["round_s"]
            results.append(row)
    print(
        f"\n{'labelled':>8} {'per client':>10} {'trainer':>11} {'first round s':>13} {'round s':>9} {'cycle s':>9} {'cycle CPU s':>11} {'100-round est s':>15}"
    )
    for row in results:
        print(
            f"{row['ratio']:>8.0%} {row['per_client']:>10} {row['trainer']:>11} {row['first_round_s']:>13.3f} {row['round_s']:>9.3f} "
            f"{row['cycle_s']:>9.2f} {row['cycle_cpu_s']:>11.2f} {row['cycle_est_s']:>15.1f}"
        )
    if {"sequential", "vectorised"} <= set(args.trainers):
        print("\nratio sequential / vectorised (> 1: vectorised faster)")
        for ratio in args.ratios:
            pick = {r["trainer"]: r for r in results if r["ratio"] == ratio}
            seq, vec = pick["sequential"], pick["vectorised"]
            print(
                f"  {ratio:.0%}: round {seq['round_s'] / vec['round_s']:.2f}×, cycle of {args.rounds} rounds {seq['cycle_s'] / vec['cycle_s']:.2f}× "
                f"(CPU time {seq['cycle_cpu_s'] / vec['cycle_cpu_s']:.2f}×)"
            )
            for r in (seq, vec):
                r["ratio_seq_over_vec_round"] = seq["round_s"] / vec["round_s"]
                r["ratio_seq_over_vec_cycle"] = seq["cycle_s"] / vec["cycle_s"]
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "device": str(device), "results": results},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
