"""Cost of intra-job checkpointing: one training cycle with checkpoints every round, every 10
rounds, and none, measured side by side in one run (CPU by default, CUDA when --device cuda).

    .venv/bin/python benchmarks/checkpoint_cost.py [--rounds 10] [--repeats 5] [--device cpu]

Uses real Fashion-MNIST-LT (Debian's dataset-fashion-mnist) with the quick preset's data size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.build import build_partition, labelled_lists
from fal.data.sources.fmnist import read_fmnist
from fal.data.views import load_setting_data
from fal.federated.flconfig import FLConfig
from fal.federated.models import build_model
from fal.federated.training import ClientData, FederatedCycle, RoundCheckpoint, TrainingHooks, train_sequential
from fal.plan.catalog import dataset_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    torch.set_num_threads(1)

    arrays = read_fmnist(Path(args.fmnist))
    setting = SettingConfig(dataset="fmnist_lt", rho=20, alpha=0.1, lt_img_max=500, test_per_class=50)
    protocol = ProtocolConfig.from_dict(
        {
            "rounds": args.rounds,
            "local_epochs": 2,
            "lr": 0.05,
            "initial_ratio": 0.3,
            "query_ratio": 0.1,
            "end_ratio": 0.3,
        }
    )
    fidelity = FidelityConfig()
    part = build_partition(
        setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels, spec=dataset_spec(setting.dataset)
    )
    spec = dataset_spec(setting.dataset)
    data = load_setting_data(arrays, part.partition, spec, setting.num_clients, args.device)
    clients = [ClientData(p, data.train_labels[p]) for p in labelled_lists(part.initial_labelled, setting.num_clients)]
    cfg = FLConfig.from_protocol(protocol, fidelity)

    def run(every: int | None) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = RoundCheckpoint(Path(tmp) / "ck.pt", every, "bench") if every else None
            model = build_model("cnn4conv", spec, 1, args.device)
            start = time.perf_counter()
            train_sequential(
                FederatedCycle(
                    model,
                    clients,
                    data.train_bank,
                    data.test_bank,
                    data.test_labels,
                    spec.num_classes,
                    cfg,
                    seed_keys=(1,),
                ),
                TrainingHooks(checkpoint=checkpoint),
            )
            return time.perf_counter() - start

    run(None)  # warm-up
    times = {label: [] for label in ("none", "every 10 rounds", "every round")}
    for _ in range(args.repeats):  # interleaved, so drift affects all variants alike
        times["none"].append(run(None))
        times["every 10 rounds"].append(run(10))
        times["every round"].append(run(1))
    import statistics

    base = statistics.median(times["none"])
    print(
        f"{args.rounds} rounds, {sum(len(c.positions) for c in clients)} labelled samples, 10 clients, device {args.device}"
    )
    for label, values in times.items():
        median = statistics.median(values)
        print(
            f"checkpoint {label:16s} median of {args.repeats}: {median:7.3f} s (min {min(values):.3f})   ratio to none: {median / base:.3f}"
        )


if __name__ == "__main__":
    main()
