"""Part b: correctness on the device: vectorised = sequential trainer, and every query method against
the query contract."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from gpucheck.common import LOG, Budget, fl_config, max_difference, synthetic

# ------------------------------------------------------------------------------------------------
# b. correctness


def double_bank(bank):
    """The same images in float64 batches (with a float64 model the trainers agree to ~1e-13)."""

    class DoubleBank(type(bank)):
        def batch(self, index, flip=None, offsets=None):
            return super().batch(index, flip, offsets).double()

    bank.__class__ = DoubleBank
    return bank


def trainer_equivalence(device, budget: Budget) -> list[dict]:
    from fal.data.images import ImageBank
    from fal.federated.models import build_model
    from fal.federated.training import ClientData, FederatedCycle, TrainingHooks, train_sequential
    from fal.federated.vectorised import train_vectorised
    from fal.plan.catalog import DATASETS

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
                    FederatedCycle(model, clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(4, "t")),
                    TrainingHooks(eval_batch_size=64),
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
    from fal.config.fidelity import FidelityConfig
    from fal.config.protocol import ProtocolConfig
    from fal.config.setting import SettingConfig
    from fal.data.build import build_partition
    from fal.data.views import Compute, StageInputs
    from fal.federated.stage import TrainingAlgorithm, run_training_stage
    from fal.plan.catalog import ALGORITHMS, METHODS, dataset_spec
    from fal.plan.strategies import StrategyEntry
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
    part = build_partition(
        setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels, spec=dataset_spec(setting.dataset)
    )
    trainings: dict[str, object] = {}

    def trained_for(entry):
        """Cycle 1 as the strategy trains it (plain FedAvg, or with LL4AL's loss module), once per kind."""
        info = ALGORITHMS[entry.update]
        algorithm = TrainingAlgorithm(entry.update, info.entry_point, entry.update_options(), entry.trains_with())
        key = json.dumps([algorithm.name, algorithm.options, algorithm.trains_with], sort_keys=True)
        if key not in trainings:
            trainings[key] = run_training_stage(
                StageInputs(
                    setting=setting,
                    protocol=protocol,
                    fidelity=fidelity,
                    seed=1,
                    cycle=1,
                    arrays=arrays,
                    partition=part.partition,
                    labelled=part.initial_labelled,
                    spec=dataset_spec(setting.dataset),
                ),
                Compute(device=device, log=LOG),
                keep_client_models=True,
                algorithm=algorithm,
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
            entry = StrategyEntry.from_dict(f"check_{name}", spec, f"check.{name}")
            strategy = entry.query_strategy()
            trained = trained_for(entry)
            run_query_stage(
                StageInputs(
                    setting=setting,
                    protocol=protocol,
                    fidelity=fidelity,
                    seed=1,
                    cycle=1,
                    arrays=arrays,
                    partition=part.partition,
                    labelled=part.initial_labelled,
                    spec=dataset_spec(setting.dataset),
                ),
                Compute(device=device, log=LOG),
                strategy=strategy,
                global_state=trained.state_dict,
                previous_state={},
                client_states=trained.client_states,
            )
            status = "pass"
        except Exception as exc:  # report and go on: one broken method must not hide the others
            status = f"FAIL: {type(exc).__name__}: {exc}"
        rows.append({"check": f"query {name}", "status": status, "seconds": round(time.perf_counter() - start, 2)})
    return rows
