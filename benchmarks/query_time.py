"""Per-strategy query time for one client of FMNIST-LT (ρ = 20, full subset, 10 clients, α = 0.1) at
the last query step of the paper protocol: 45% labelled (9 × 5% of R per client, a synthetic random
labelled set), budget 5%, on CPU (default) or CUDA.

    .venv/bin/python benchmarks/query_time.py [--device cpu|cuda] [--repeats 3] [--threads 1]
        [--strategies margin_g,badge_l,...]

The global model and the local-only model are briefly trained stand-ins (``--train-epochs`` epochs of
the local-only trainer on the client's labelled set, from two different inits); the local model is
trained once before timing, so the L rows time the strategy itself and the local training time is
printed separately (last-round client models reuse it; fine-tuned local models and IFAL's KD model are
trained inside the timed query, as in a real run). Every strategy of config.yaml is timed unless ``--strategies`` says otherwise.
Uses Debian's dataset-fashion-mnist.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import yaml

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.build import build_partition, unlabelled_pool
from fal.data.sources.fmnist import read_fmnist
from fal.data.views import load_setting_data
from fal.federated.local import LocalTrainingConfig, last_round_models, scratch_models, train_local_only
from fal.federated.models import build_model
from fal.plan.catalog import dataset_spec
from fal.plan.strategies import resolve_strategies
from fal.seeding import numpy_rng, torch_generator
from fal.strategies.base import ClientPool, QueryStep
from fal.strategies.stage import check_outcome, load_query_function

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--client", type=int, default=0)
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="inference batch (default 128 on CPU, 4096 on CUDA)"
    )
    parser.add_argument("--strategies", default=None, help="comma-separated names from config.yaml (default: all)")
    parser.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch_size = args.batch_size or (4096 if device.type == "cuda" else 128)

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    strategies = resolve_strategies(config)
    names = args.strategies.split(",") if args.strategies else list(strategies)

    arrays = read_fmnist(Path(args.fmnist))
    setting = SettingConfig(dataset="fmnist_lt", rho=20, alpha=0.1)
    protocol = ProtocolConfig.from_dict({"local_model": {"epochs": args.train_epochs}})
    fidelity = FidelityConfig()
    part = build_partition(
        setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels, spec=dataset_spec(setting.dataset)
    )
    spec = dataset_spec(setting.dataset)
    data = load_setting_data(arrays, part.partition, spec, setting.num_clients, device)
    budget = part.budgets.query[0]
    pool_all = data.pools[args.client]
    n_labelled = 9 * part.budgets.initial[0]  # 45% of R, per client
    labelled = numpy_rng(1, "bench_labelled").choice(pool_all, size=n_labelled, replace=False)
    pool = ClientPool(args.client, labelled, data.train_labels[labelled], unlabelled_pool(pool_all, labelled), budget)

    cfg = LocalTrainingConfig.from_protocol(protocol, fidelity)
    global_model = build_model("cnn4conv", spec, 11, device)
    train_local_only(
        global_model,
        labelled,
        pool.labelled_labels,
        data.train_bank,
        cfg,
        torch_generator(1, "bench_global"),
        "global stand-in",
    )
    global_model.eval()
    init_state = build_model("cnn4conv", spec, 12, device).state_dict()
    local_models = scratch_models(
        lambda: build_model("cnn4conv", spec, 12, device), init_state, data.train_bank, cfg, (1, "bench_local")
    )
    start = time.perf_counter()
    local_models.get(pool)
    if device.type == "cuda":
        torch.cuda.synchronize()
    local_seconds = time.perf_counter() - start

    # Last-round client model stand-in (§5.3): the trained local model's weights, so nothing is trained
    # inside the timed query. Fine-tuned L models (§5.2) are trained inside the query, as in a real run.
    last_round = last_round_models(
        lambda: build_model("cnn4conv", spec, 12, device), {args.client: local_models.get(pool).state_dict()}
    )

    def fresh_local_model():
        model = build_model("cnn4conv", spec, 12, device)
        model.load_state_dict(init_state)
        return model

    def step_for(name: str) -> QueryStep:
        kind = strategies[name].local_model_kind if name in strategies else None
        if kind == "last_round":
            models = last_round
        elif kind == "finetune":
            models = scratch_models(
                lambda: build_model("cnn4conv", spec, 12, device),
                global_model.state_dict(),
                data.train_bank,
                cfg,
                (1, "bench_ft"),
            )
        else:
            models = local_models
        return QueryStep(
            cycle=8,
            num_classes=spec.num_classes,
            pools=[pool],
            global_model=global_model,
            local_models=models,
            query_bank=data.query_bank,
            seed_keys=(1, name, 8),
            fidelity=fidelity,
            batch_size=batch_size,
            train_bank=data.train_bank,
            fresh_local_model=fresh_local_model,
            protocol=protocol,
        )

    log = logging.getLogger("bench")
    rows = []
    load_query_function("entropy")(step_for("warmup"), strategies["entropy_g"])  # warm-up (allocator, kernels)
    for name in names:
        strategy = strategies[name]
        query = load_query_function(strategy.method)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            outcome = query(step_for(name), strategy)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        check_outcome(outcome, [pool], budget, name)
        rows.append((name, strategy.display_name, strategy.selector, statistics.median(times), min(times)))
        log.info("%s done", name)

    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"FMNIST-LT rho 20, client {args.client}: {len(pool.unlabelled)} unlabelled, {len(labelled)} labelled (45% of R), "
        f"budget {budget}; device {device}{gpu}, {args.threads} thread(s), inference batch {batch_size}, {args.repeats} repeats"
    )
    print(f"local-only model training (once, {cfg.epochs} epoch cap, not in the L rows): {local_seconds:.2f} s")
    print()
    print("| strategy | method | sel | median s | min s |")
    print("|---|---|---|---:|---:|")
    for name, label, sel, median, best in rows:
        print(f"| {name} | {label} | {sel} | {median:.3f} | {best:.3f} |")


if __name__ == "__main__":
    main()
