"""Part d: one FairFAL run at the paper protocol through the stage functions the rules call."""

from __future__ import annotations

import time
from pathlib import Path

from gpucheck.common import LOG, ROOT, Budget, sync

# ------------------------------------------------------------------------------------------------
# d. one FairFAL run through the stage functions


PAPER_FAIRFAL_FMNIST = "FairFAL Table 5, FMNIST-LT α = 0.1 (workflow/published/values.csv)"


def full_run(device, smoke: bool, budget: Budget, args, chosen: dict) -> dict:
    from fal.config.fidelity import FidelityConfig
    from fal.config.protocol import ProtocolConfig
    from fal.config.setting import SettingConfig
    from fal.data.build import build_partition
    from fal.data.sources.fmnist import read_fmnist
    from fal.data.views import Compute, StageInputs
    from fal.federated.stage import run_training_stage
    from fal.federated.vectorised import VectorisedOptions
    from fal.plan.catalog import dataset_spec
    from fal.plan.strategies import StrategyEntry
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
    strategy = StrategyEntry.from_dict("fairfal", {"method": "fairfal"}, "strategies.fairfal").query_strategy()
    trainer = chosen["config"].split()[0]
    compile_mode = chosen["config"].split("compile ")[1] if "compile" in chosen["config"] else "off"
    options = VectorisedOptions(compile=compile_mode, precision=chosen["precision"])
    stages: list[dict] = []
    start = time.perf_counter()
    part = build_partition(
        setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels, spec=dataset_spec(setting.dataset)
    )
    stages.append({"stage": "partition", "seconds": round(time.perf_counter() - start, 2)})
    labelled, state = part.initial_labelled, {}
    cycles = protocol.num_cycles()
    for cycle in range(1, cycles + 1):
        if budget.left() < 5:
            stages.append({"stage": f"cycle {cycle}", "status": "skipped (budget)"})
            break
        t0 = time.perf_counter()
        trained = run_training_stage(
            StageInputs(
                setting=setting,
                protocol=protocol,
                fidelity=fidelity,
                seed=1,
                cycle=cycle,
                arrays=arrays,
                partition=part.partition,
                labelled=labelled,
                spec=dataset_spec(setting.dataset),
            ),
            Compute(device=device, log=LOG, inference_batch_size=4096 if device.type == "cuda" else 256),
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
                StageInputs(
                    setting=setting,
                    protocol=protocol,
                    fidelity=fidelity,
                    seed=1,
                    cycle=cycle,
                    arrays=arrays,
                    partition=part.partition,
                    labelled=labelled,
                    spec=dataset_spec(setting.dataset),
                ),
                Compute(device=device, log=LOG, inference_batch_size=4096 if device.type == "cuda" else 256),
                strategy=strategy,
                global_state=trained.result.state_dict,
                previous_state=state,
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
