"""The GPU path proven in one command that fits a short GPU window (and runs on CPU in CI, `--smoke`).

    python benchmarks/gpu_check.py --fmnist DIR --out reports/gpu/<date>          # on a GPU machine
    python benchmarks/gpu_check.py --device cpu --smoke --out /tmp/gpu_check        # CI (make gpu-check)

Needs numpy, pandas, pyarrow, scipy, matplotlib and torch/torchvision, plus this project's ``fal/`` on the
path; no install step, no Snakemake, no network. ``--fmnist`` is a folder with the four Fashion-MNIST IDX
files (``*-ubyte`` or ``*-ubyte.gz``; 30 MB gzipped, so they travel with a 64 MiB working tree: copy
them to e.g. ``shared/fmnist/``). It enforces its own wall-clock budget (``--budget-s``, default 420):
every part gets a share, stops when it is used up and says what it skipped. It writes
``gpu_check.json`` and ``gpu_check.md`` to ``--out``. Parts, in order:

a. environment: GPU, driver, torch/CUDA versions, the project's commit;
b. correctness on the device: vectorised = sequential trainer for 2 rounds in float64 (FedAvg, FedProx,
   SCAFFOLD; unequal clients) within 1e-8, and in float32 within the CPU test's tolerance; every query
   method once on a small setting, checked against the query contract;
c. speed at the paper protocol (FMNIST-LT ρ = 20, 10 clients, 5 local epochs, batch 64): seconds per round
   at 5 % and 45 % labelled, sequential and vectorised (eager, compile default, compile reduce-overhead)
   in fp32 / tf32 / bf16, with the accuracy after the timed rounds;
d. one FairFAL run at the paper protocol (9 cycles × 100 rounds, α = 0.1, seed 1) through the stage
   functions the rules call, with the fastest configuration that passed (b), beside the paper's cells;
e. concurrency: 1, 4 and 8 cycle-1 trainings as separate processes → runs per GPU-hour;
f. projected GPU-hours of the FMNIST part of Tables 5/6 and of each GPU study in config.yaml.

``--smoke`` shrinks every size (2-3 clients, 1-2 rounds, small data) so that the whole check takes
about a minute on a CPU; the equivalence and contract checks stay real.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

LOG = logging.getLogger("gpu_check")
PARTS = {  # share of the budget; unused time rolls over to the next part
    "environment": 0.01,
    "correctness": 0.17,
    "speed": 0.27,
    "full_run": 0.33,
    "concurrency": 0.17,
    "projection": 0.05,
}
MIN_TORCH = (2, 4)


@dataclass
class Budget:
    """A hard wall-clock budget split into per-part deadlines."""

    total_s: float
    start: float = field(default_factory=time.perf_counter)
    part_end: float = 0.0

    def begin(self, part: str) -> None:
        shares = list(PARTS)
        used = sum(PARTS[p] for p in shares[: shares.index(part) + 1])
        self.part_end = self.start + used * self.total_s

    def left(self) -> float:
        """Seconds left in the current part (never past the total budget)."""
        now = time.perf_counter()
        return max(0.0, min(self.part_end, self.start + self.total_s) - now)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# ------------------------------------------------------------------------------------------------
# helpers


def synthetic(num_classes: int, per_class: int, test_per_class: int, seed: int):
    """Class-dependent uint8 images (a band per class) that a small CNN learns in a few steps."""
    from fal.data.sources import DatasetArrays

    rng = np.random.default_rng(seed)

    def make(n):
        labels = np.repeat(np.arange(num_classes), n)
        images = rng.integers(0, 60, size=(len(labels), 1, 28, 28), dtype=np.uint8)
        band = 28 // num_classes
        for i, c in enumerate(labels):
            images[i, :, c * band : (c + 1) * band, :] += 150
        order = rng.permutation(len(labels))
        return images[order], labels[order].astype(np.int64)

    train_images, train_labels = make(per_class)
    test_images, test_labels = make(test_per_class)
    return DatasetArrays(train_images, train_labels, test_images, test_labels)


def fl_config(algorithm: str, rounds: int, lr: float = 0.05, mu: float = 0.01, local_epochs: int = 2, batch: int = 8):
    from fal.federated.flconfig import FLConfig

    return FLConfig(
        rounds=rounds,
        local_epochs=local_epochs,
        batch_size=batch,
        lr=lr,
        momentum=0.9,
        weight_decay=1e-4,
        lr_decay=0.1,
        lr_decay_at=0.5,
        client_fraction=1.0,
        algorithm=algorithm,
        fedprox_mu=mu,
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def max_difference(a, b) -> float:
    worst = 0.0
    for key, x in a.state_dict.items():
        y = b.state_dict[key]
        if x.is_floating_point():
            worst = max(worst, float((x.double() - y.double()).abs().max()))
        elif not torch.equal(x, y):
            return float("inf")
    return worst


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


# ------------------------------------------------------------------------------------------------
# b. correctness


def double_bank(bank):
    """The same images in float64 batches (with a float64 model the trainers agree to ~1e-13)."""

    class DoubleBank(type(bank)):
        def batch(self, index, flip=None):
            return super().batch(index, flip).double()

    bank.__class__ = DoubleBank
    return bank


def trainer_equivalence(device, budget: Budget) -> list[dict]:
    from fal.data.datasets import DATASETS
    from fal.data.images import ImageBank
    from fal.federated.models import build_model
    from fal.federated.training import ClientData, train_sequential
    from fal.federated.vectorised import train_vectorised

    spec = DATASETS["octmnist"]
    sizes = (24, 19, 10)
    arrays = synthetic(4, sum(sizes) // 4 + 10, 10, seed=3)
    bounds = np.cumsum([0, *sizes])
    clients = [ClientData(np.arange(a, b), arrays.train_labels[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    rows = []
    cases = [(alg, "float64") for alg in ("fedavg", "fedprox", "scaffold")] + [("fedprox", "float32")]
    for algorithm, dtype in cases:
        if budget.left() < 2:
            rows.append({"check": f"trainers {algorithm} {dtype}", "status": "skipped (budget)"})
            continue
        double = dtype == "float64"
        bank = ImageBank(arrays.train_images, (0.3,), (0.35,), device)
        test_bank = ImageBank(arrays.test_images, (0.3,), (0.35,), device)
        if double:
            bank, test_bank = double_bank(bank), double_bank(test_bank)
        cfg = fl_config(algorithm, rounds=2, mu=0.01 if double else 0.5, lr=0.05 if double else 0.01)
        results = []
        for trainer in (train_sequential, train_vectorised):
            model = build_model("cnn4conv", spec, 7, device)
            model = model.double() if double else model
            results.append(
                trainer(
                    model, clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(4, "t"), eval_batch_size=64
                )
            )
        diff = max_difference(*results)
        # float64: 1e-8; float32: the CPU test's allclose(atol=3e-4, rtol=3e-3) (tests/federated/test_vectorised.py)
        atol, rtol = (1e-8, 0.0) if double else (3e-4, 3e-3)
        close = all(
            torch.allclose(x.double(), results[1].state_dict[k].double(), atol=atol, rtol=rtol)
            for k, x in results[0].state_dict.items()
            if x.is_floating_point()
        )
        tolerance = f"atol {atol:g}, rtol {rtol:g}"
        same_acc = results[0].rounds["test_acc"].tolist() == results[1].rounds["test_acc"].tolist()
        ok = close and diff != float("inf") and (double or same_acc)
        rows.append(
            {
                "check": f"trainers {algorithm} {dtype}",
                "status": "pass" if ok else "FAIL",
                "max_abs_difference": diff,
                "tolerance": tolerance,
                "same_test_accuracy": same_acc,
            }
        )
    return rows


def query_contracts(device, budget: Budget) -> list[dict]:
    """Every registered method once on a small 3-client setting, on ``device``, against the contract."""
    from fal.config import FidelityConfig, ProtocolConfig, SettingConfig, StrategyConfig
    from fal.data.build import build_partition
    from fal.federated.stage import run_training_stage
    from fal.strategies.registry import METHODS
    from fal.strategies.stage import run_query_stage

    arrays = synthetic(4, 90, 20, seed=5)
    setting = SettingConfig(dataset="octmnist", alpha=0.5, num_clients=3)
    protocol = ProtocolConfig.from_dict(
        {
            "num_clients": 3,
            "rounds": 1,
            "local_epochs": 1,
            "lr": 0.05,
            "initial_ratio": 0.1,
            "query_ratio": 0.1,
            "end_ratio": 0.3,
            "local_model": {"epochs": 2},
        }
    )
    fidelity = FidelityConfig()
    part = build_partition(setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels)
    trainings: dict[str, object] = {}

    def trained_for(strategy):
        """Cycle 1 as the strategy trains it (plain FedAvg, or with LL4AL's loss module), once per kind."""
        federated = strategy.resolved_federated()
        key = json.dumps(federated, sort_keys=True)
        if key not in trainings:
            trainings[key] = run_training_stage(
                setting=setting,
                protocol=protocol,
                fidelity=fidelity,
                seed=1,
                cycle=1,
                arrays=arrays,
                partition=part.partition,
                labelled=part.initial_labelled,
                device=device,
                log=LOG,
                keep_client_models=True,
                federated=federated,
            ).result
        return trainings[key]

    small = {"gcnal": {"steps": 20}, "ifal": {"kd_epochs": 3, "rknn_k": 10}, "logo": {"n_init": 2}}
    rows = []
    for name, info in METHODS.items():
        if budget.left() < 1:
            rows.append({"check": f"query {name}", "status": "skipped (budget)"})
            continue
        spec = {"method": name, "options": small.get(name, {})}
        if info.query_models:
            spec["query_model"] = "global"
        start = time.perf_counter()
        try:  # the query stage checks the contract itself (fal.strategies.stage.check_outcome) and raises
            strategy = StrategyConfig.from_dict(f"check_{name}", spec, f"check.{name}")
            trained = trained_for(strategy)
            run_query_stage(
                setting=setting,
                protocol=protocol,
                fidelity=fidelity,
                strategy=strategy,
                seed=1,
                cycle=1,
                arrays=arrays,
                partition=part.partition,
                labelled=part.initial_labelled,
                global_state=trained.state_dict,
                previous_state={},
                device=device,
                log=LOG,
                client_states=trained.client_states,
            )
            status = "pass"
        except Exception as exc:  # report and go on: one broken method must not hide the others
            status = f"FAIL: {type(exc).__name__}: {exc}"
        rows.append({"check": f"query {name}", "status": status, "seconds": round(time.perf_counter() - start, 2)})
    return rows


# ------------------------------------------------------------------------------------------------
# c. speed


def speed(device, smoke: bool, budget: Budget, args) -> list[dict]:
    from fal.config import FidelityConfig, ProtocolConfig, RuntimeConfig, SettingConfig
    from fal.data.budgets import compute_budget
    from fal.data.datasets import get_dataset_spec
    from fal.data.images import ImageBank
    from fal.federated.flconfig import FLConfig
    from fal.federated.models import build_model
    from fal.federated.training import ClientData, train_sequential
    from fal.federated.vectorised import VectorisedOptions, train_vectorised
    from fal.runtime import configure

    spec = get_dataset_spec("fmnist_lt")
    clients_n = 3 if smoke else 10
    rounds = 1 if smoke else args.speed_rounds
    protocol = ProtocolConfig(rounds=rounds, local_epochs=1 if smoke else 5)
    cfg = FLConfig.from_protocol(protocol, FidelityConfig())
    num_train = SettingConfig(dataset="fmnist_lt", rho=20, alpha=0.1, num_clients=10).num_train()
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
                extra = {}
                if trainer == "vectorised":
                    extra["options"] = VectorisedOptions(compile=compile_mode, precision=precision)
                start = time.perf_counter()
                try:
                    result = (train_sequential if trainer == "sequential" else train_vectorised)(
                        model,
                        clients,
                        bank,
                        test_bank,
                        arrays.test_labels,
                        spec.num_classes,
                        cfg,
                        seed_keys=(1, "speed"),
                        eval_batch_size=4096 if device.type == "cuda" else 256,
                        progress=lambda _row, stamps=stamps: stamps.append(time.perf_counter()),
                        **extra,
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


# ------------------------------------------------------------------------------------------------
# d. one FairFAL run through the stage functions


PAPER_FAIRFAL_FMNIST = "FairFAL Table 5, FMNIST-LT α = 0.1 (workflow/published/values.csv)"


def full_run(device, smoke: bool, budget: Budget, args, chosen: dict) -> dict:
    from fal.config import FidelityConfig, ProtocolConfig, SettingConfig, StrategyConfig
    from fal.data.build import build_partition
    from fal.data.sources import read_fmnist
    from fal.federated.stage import run_training_stage
    from fal.federated.vectorised import VectorisedOptions
    from fal.strategies.stage import run_query_stage

    if args.fmnist is None:
        return {"status": "skipped: no --fmnist folder with the Fashion-MNIST IDX files"}
    arrays = read_fmnist(Path(args.fmnist))
    setting = SettingConfig(
        dataset="fmnist_lt",
        rho=20,
        alpha=0.1,
        num_clients=3 if smoke else 10,
        lt_img_max=60 if smoke else None,
        test_per_class=10 if smoke else None,
    )
    overrides = {
        "rounds": 1,
        "local_epochs": 1,
        "num_clients": 3,
        "initial_ratio": 0.1,
        "query_ratio": 0.1,
        "end_ratio": 0.3,
    }
    protocol = ProtocolConfig.from_dict({**overrides, "local_model": {"epochs": 2}} if smoke else {})
    fidelity = FidelityConfig()
    strategy = StrategyConfig.from_dict("fairfal", {"method": "fairfal"}, "strategies.fairfal")
    trainer = chosen["config"].split()[0]
    compile_mode = chosen["config"].split("compile ")[1] if "compile" in chosen["config"] else "off"
    options = VectorisedOptions(compile=compile_mode, precision=chosen["precision"])
    stages: list[dict] = []
    start = time.perf_counter()
    part = build_partition(setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels)
    stages.append({"stage": "partition", "seconds": round(time.perf_counter() - start, 2)})
    labelled, state = part.initial_labelled, {}
    cycles = protocol.num_cycles()
    for cycle in range(1, cycles + 1):
        if budget.left() < 5:
            stages.append({"stage": f"cycle {cycle}", "status": "skipped (budget)"})
            break
        t0 = time.perf_counter()
        trained = run_training_stage(
            setting=setting,
            protocol=protocol,
            fidelity=fidelity,
            seed=1,
            cycle=cycle,
            arrays=arrays,
            partition=part.partition,
            labelled=labelled,
            device=device,
            log=LOG,
            inference_batch_size=4096 if device.type == "cuda" else 256,
            trainer=trainer,
            vectorised_options=options,
        )
        sync(device)
        row = {
            "stage": f"cycle {cycle}",
            "labelled_ratio": round(protocol.initial_ratio + (cycle - 1) * protocol.query_ratio, 2),
            "train_s": round(time.perf_counter() - t0, 2),
            "accuracy": round(float(trained.result.rounds["test_acc"].iloc[-1]), 2),
        }
        if cycle < cycles:
            t1 = time.perf_counter()
            out = run_query_stage(
                setting=setting,
                protocol=protocol,
                fidelity=fidelity,
                strategy=strategy,
                seed=1,
                cycle=cycle,
                arrays=arrays,
                partition=part.partition,
                labelled=labelled,
                global_state=trained.result.state_dict,
                previous_state=state,
                device=device,
                log=LOG,
                inference_batch_size=4096 if device.type == "cuda" else 256,
            )
            labelled, state = out.labelled, out.state
            row["query_s"] = round(time.perf_counter() - t1, 2)
        stages.append(row)
    total = time.perf_counter() - start
    return {
        "status": "pass" if all("status" not in s for s in stages) else "partial (budget)",
        "config": chosen,
        "seconds": round(total, 1),
        "stages": stages,
        "published": _published_fairfal(),
    }


def _published_fairfal() -> dict:
    """The paper's FairFAL FMNIST-LT α = 0.1 cells of Table 5, by labelled ratio (%)."""
    import pandas as pd

    values = pd.read_csv(ROOT / "workflow/published/values.csv", dtype=str)
    cells = values[
        (values["paper"] == "FairFAL")
        & (values["table"] == "5")
        & (values["dataset"] == "fmnist_lt")
        & (values["method"] == "fairfal")
        & (values["alpha"] == "0.1")
        & (values["statistic"] == "accuracy")
    ]
    return {f"{r['labelled_ratio']}%": float(r["value"]) for _, r in cells.iterrows()}


# ------------------------------------------------------------------------------------------------
# e. concurrency


def concurrency(device, smoke: bool, budget: Budget) -> list[dict]:
    levels = [1, 2] if smoke else [1, 4, 8]
    rows = []
    for level in levels:
        if budget.left() < 10:
            rows.append({"processes": level, "status": "skipped (budget)"})
            continue
        cmd = [sys.executable, __file__, "--worker", "--device", str(device), "--threads", "1"]
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
    from fal.config import FidelityConfig, ProtocolConfig, RuntimeConfig
    from fal.data.datasets import get_dataset_spec
    from fal.data.images import ImageBank
    from fal.federated.flconfig import FLConfig
    from fal.federated.models import build_model
    from fal.federated.training import ClientData, train_sequential
    from fal.federated.vectorised import train_vectorised
    from fal.runtime import configure

    device = configure(RuntimeConfig(device=args.device, threads=args.threads))
    spec = get_dataset_spec("fmnist_lt")
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
        build_model("cnn4conv", spec, 0, device),
        clients,
        bank,
        ImageBank(arrays.test_images, mean, std, device),
        arrays.test_labels,
        10,
        FLConfig.from_protocol(protocol, FidelityConfig()),
        seed_keys=(1, "worker"),
        eval_batch_size=4096 if device.type == "cuda" else 256,
    )
    sync(device)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rounds": protocol.rounds}))


# ------------------------------------------------------------------------------------------------
# f. projection


def projection(full: dict, conc: list[dict], smoke: bool) -> dict:
    """GPU-hours from the measured full run and the best concurrency, stated with the method."""
    run_s = full.get("seconds") if full.get("status") == "pass" else None
    best = max((r for r in conc if r.get("status") == "pass"), key=lambda r: r["runs_per_hour"], default=None)
    speedup = (best["runs_per_hour"] / next(r["runs_per_hour"] for r in conc if r["processes"] == 1)) if best else 1.0
    out = {
        "method": "GPU-hours = runs × (one full run's seconds, part d) / concurrency speedup (part e, best level) / 3600; "
        "a run = one (setting, strategy, seed) through every cycle, scaled by the setting's training images "
        "relative to FMNIST-LT ρ = 20 and by cycles × rounds relative to 9 × 100. Runs of other strategies are "
        "taken to cost as much as FairFAL's (queries are a small part of a run); larger backbones and 3-channel "
        "images cost more per image, so CIFAR and backbone studies are underestimates.",
        "full_run_s": run_s,
        "concurrency_speedup": round(speedup, 2),
        "jobs_per_gpu": best["processes"] if best else 1,
        "studies": {},
    }
    if smoke:
        out["note"] = "smoke sizes: these figures exercise the arithmetic only, they project nothing"
    if run_s is None:
        out["note"] = "no complete full run (part d) to project from"
        return out
    try:
        import yaml

        from fal.config import resolve_study
    except ImportError as exc:
        out["note"] = f"cannot read config.yaml ({exc}); install pyyaml"
        return out
    from fal.config import SettingConfig

    fmnist_images = SettingConfig(dataset="fmnist_lt", rho=20, alpha=0.1, num_clients=10).num_train()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name in config["studies"]:
        study = resolve_study(config, name)
        if study.name == "quick":
            continue
        runs = len(study.settings) * len(study.seeds) * len(study.strategies)
        images = statistics.mean(s.num_train() for s in study.settings) / fmnist_images
        scale = images * study.protocol.num_cycles() / 9 * study.protocol.rounds / 100
        out["studies"][name] = round(runs * run_s * scale / speedup / 3600, 2)
    fmnist = [n for n in out["studies"] if n == "table5_6_fmnist"]
    out["tables5_6_fmnist_gpu_hours"] = out["studies"][fmnist[0]] if fmnist else None
    return out


# ------------------------------------------------------------------------------------------------
# report


def write_reports(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    lines = [f"# GPU check ({'smoke, ' if report['smoke'] else ''}{report['environment'].get('device')})", ""]
    env = report["environment"]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += ["", f"Budget {report['budget_s']} s, used {report['elapsed_s']} s.", "", "## Correctness", ""]
    lines += ["| check | status | detail |", "|---|---|---|"]
    for row in report["correctness"]:
        detail = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("check", "status"))
        lines.append(f"| {row['check']} | {row['status']} | {detail} |")
    lines += [
        "",
        "## Speed (seconds per round)",
        "",
        "| labelled | config | precision | first round s | round s | accuracy | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["speed"]:
        lines.append(
            f"| {row['labelled']:.0%} | {row['config']} | {row['precision']} | {row.get('first_round_s', '')} | "
            f"{row.get('round_s', '')} | {row.get('accuracy', '')} | {row['status']} |"
        )
    full = report["full_run"]
    lines += [
        "",
        "## One FairFAL run (stage functions)",
        "",
        f"Status: {full.get('status')}; total {full.get('seconds', '–')} s; config {full.get('config', '–')}.",
        "",
    ]
    if full.get("stages"):
        lines += ["| stage | labelled | train s | query s | accuracy |", "|---|---|---|---|---|"]
        for s in full["stages"]:
            lines.append(
                f"| {s['stage']} | {s.get('labelled_ratio', '')} | {s.get('train_s', s.get('seconds', ''))} | {s.get('query_s', '')} | {s.get('accuracy', s.get('status', ''))} |"
            )
        if full.get("published"):
            lines += ["", f"Published ({PAPER_FAIRFAL_FMNIST}): {full['published']}"]
    lines += [
        "",
        "## Concurrency (cycle-1 trainings as separate processes)",
        "",
        "| processes | wall s | runs per hour | status |",
        "|---|---|---|---|",
    ]
    for row in report["concurrency"]:
        lines.append(
            f"| {row['processes']} | {row.get('wall_s', '')} | {row.get('runs_per_hour', '')} | {row['status']} |"
        )
    proj = report["projection"]
    lines += ["", "## Projection", "", proj.get("method", ""), ""]
    for k, v in proj.items():
        if k not in ("method", "studies"):
            lines.append(f"- {k}: {v}")
    for k, v in proj.get("studies", {}).items():
        lines.append(f"- {k}: {v} GPU-hours")
    lines += ["", "## Skipped", ""] + ([f"- {s}" for s in report["skipped"]] or ["- nothing"])
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda, cuda:N or cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: about a minute on a CPU (CI)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="hard wall-clock budget for the whole check")
    parser.add_argument("--fmnist", default=None, help="folder with the Fashion-MNIST IDX files (part d)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check_out"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speed-rounds", type=int, default=3, help="timed rounds per speed configuration")
    parser.add_argument("--worker-rounds", type=int, default=5, help="rounds of each concurrency worker")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.worker:
        worker(args)
        return 0
    if args.fmnist is None:
        for candidate in (
            "/usr/share/datasets/fashion-mnist",
            ROOT / "shared/fmnist",
            ROOT / "data/raw/FashionMNIST/raw",
        ):
            if (
                Path(candidate, "train-images-idx3-ubyte.gz").exists()
                or Path(candidate, "train-images-idx3-ubyte").exists()
            ):
                args.fmnist = str(candidate)
                break

    from fal.config import RuntimeConfig
    from fal.runtime import configure

    device = configure(RuntimeConfig(device=args.device, threads=args.threads))
    budget = Budget(args.budget_s)
    report: dict = {"smoke": args.smoke, "budget_s": args.budget_s, "skipped": []}

    def timed(part, fn):
        budget.begin(part)
        print(f"[{budget.elapsed():6.1f}s] {part} ({budget.left():.0f}s)", flush=True)
        try:
            return fn()
        except Exception as exc:  # keep the other parts' evidence
            report["skipped"].append(f"{part}: failed with {type(exc).__name__}: {exc}")
            return [] if part in ("correctness", "speed", "concurrency") else {"status": f"FAIL: {exc}"}

    report["environment"] = timed("environment", lambda: part_environment(device))
    if not report["environment"].get("torch_supported", True):
        report["skipped"].append(f"torch {torch.__version__} is older than {MIN_TORCH}: results may not hold")
    report["correctness"] = timed(
        "correctness",
        lambda: trainer_equivalence(device, budget) + query_contracts(device, budget),
    )
    report["speed"] = timed("speed", lambda: speed(device, args.smoke, budget, args))
    if device.type != "cuda" and not args.smoke:
        report["skipped"].append("speed: tf32/bf16 and compile need CUDA; measured fp32 eager only")
    chosen = fastest_passing(report["speed"])
    report["full_run"] = timed("full_run", lambda: full_run(device, args.smoke, budget, args, chosen))
    report["concurrency"] = timed("concurrency", lambda: concurrency(device, args.smoke, budget))
    report["projection"] = timed(
        "projection", lambda: projection(report["full_run"], report["concurrency"], args.smoke)
    )
    for section in ("correctness", "speed", "concurrency"):
        for row in report[section]:
            if str(row.get("status", "")).startswith("skipped"):
                report["skipped"].append(
                    f"{section}: {row.get('check') or row.get('config') or row.get('processes')} ({row['status']})"
                )
    if report["full_run"].get("status", "").startswith(("skipped", "partial")):
        report["skipped"].append(f"full_run: {report['full_run']['status']}")
    report["elapsed_s"] = round(budget.elapsed(), 1)
    write_reports(report, args.out)
    failed = [r for r in report["correctness"] if str(r.get("status", "")).startswith("FAIL")]
    print(
        f"wrote {args.out}/gpu_check.md and gpu_check.json in {report['elapsed_s']} s; {len(failed)} correctness failure(s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
