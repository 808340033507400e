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
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's fal/ (no install step)

import torch
from gpucheck.common import MIN_TORCH, ROOT, Budget
from gpucheck.concurrency import concurrency, worker
from gpucheck.correctness import query_contracts, trainer_equivalence
from gpucheck.environment import part_environment
from gpucheck.full_run import full_run
from gpucheck.projection import projection
from gpucheck.report import write_reports
from gpucheck.speed import fastest_passing, speed


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

    from fal.config.runtime import RuntimeConfig
    from fal.job import configure

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
