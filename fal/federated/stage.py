"""The training stage: one AL cycle of federated training from a fresh model on a labelled set."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, cast

import numpy as np
import pandas as pd

from fal.config.datasets import DatasetSpec
from fal.config.fidelity import FidelityConfig
from fal.data.build import labelled_lists
from fal.data.views import Compute, StageInputs
from fal.federated.algorithms.fedavg import FedAvg
from fal.federated.flconfig import CycleSetup, FLConfig, load_extension
from fal.federated.models import build_cycle_model
from fal.federated.training import (
    ClientData,
    FederatedCycle,
    FLResult,
    RoundCheckpoint,
    Trainer,
    TrainingHooks,
    train_sequential,
)
from fal.federated.vectorised import VectorisedOptions, train_vectorised
from fal.registry import load_entry
from fal.seeding import derive_seed

FEDAVG_ENTRY = "fal.federated.algorithms.fedavg:FedAvg"


def model_init_seed(seed: int, cycle: int, fidelity: FidelityConfig) -> int:
    """Seed of the fresh model built at the start of a cycle.

    The official code reseeds torch with 0 while partitioning, so cycle 1's init is the same for every
    run seed (``shared_cycle1_init``); later cycles depend on the run seed.
    """
    if cycle == 1 and fidelity.shared_cycle1_init:
        return derive_seed("model_init", 1)
    return derive_seed(seed, "model_init", cycle)


@dataclass(frozen=True)
class TrainingAlgorithm:
    """The FL algorithm a training job runs, resolved in its params (fal.plan.params.train_params): its
    name, entry point (a FedAvg subclass), options, and the module a strategy trains with the model."""

    name: str = "fedavg"
    entry: str = FEDAVG_ENTRY
    options: Mapping[str, Any] = field(default_factory=dict)
    trains_with: Mapping[str, Any] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainingAlgorithm:
        algorithm = params["algorithm"]
        return cls(algorithm["name"], algorithm["entry"], dict(algorithm["options"]), params.get("trains_with"))


@dataclass
class TrainingOutputs:
    result: FLResult
    evaluation: pd.DataFrame


def _log_schedule(log: logging.Logger, cycle: int, cfg: FLConfig) -> None:
    # from the values, not protocol.schedule: a job's params carry what it computes with, not the name
    if cfg.optimizer_scope != "round" or cfg.lr_schedule != "round" or cfg.last_round_all_clients:
        log.info(
            "cycle %d: KAFAL's federated schedule: client optimisers per %s, lr per %s (milestones %s), all "
            "clients in the last round: %s",
            cycle,
            cfg.optimizer_scope,
            cfg.lr_schedule,
            list(cfg.lr_milestones),
            cfg.last_round_all_clients,
        )


def _choose_trainer(trainer: str, federated: FederatedCycle, keep_client_models: bool, log: logging.Logger) -> str:
    """``trainer``, or the sequential one where the vectorised trainer cannot run the cycle."""
    if trainer not in ("sequential", "vectorised"):
        raise ValueError(f"unknown trainer {trainer!r}; use 'sequential' or 'vectorised'")
    cfg = federated.cfg
    vectorisable = federated.algorithm is None or federated.algorithm.vectorisable
    if trainer == "vectorised" and (
        not vectorisable or keep_client_models or cfg.sequential_only or federated.train_bank.crop_padding
    ):
        log.info(
            "%s, kept client models, KAFAL's persistent client schedule and transform, and modules trained with "
            "the model need the sequential trainer; using it",
            cfg.algorithm,
        )
        return "sequential"
    return trainer


def _progress_hooks(
    log: logging.Logger,
    cycle: int,
    cfg: FLConfig,
    num_clients: int,
    spec: DatasetSpec,
    compute: Compute,
    checkpoint: RoundCheckpoint | None,
) -> TrainingHooks:
    """Log lines per round (round, accuracy, elapsed) and on resuming from a checkpoint."""

    def progress(row: dict) -> None:
        log.info(
            "cycle %d round %d/%d clients %d/%d lr %.4g train_loss %.4f test_loss %.4f %s %.2f%% elapsed %.1fs",
            cycle,
            row["round"],
            cfg.rounds,
            row["clients"],
            num_clients,
            row["lr"],
            row["train_loss"],
            row["test_loss"],
            "test_mean_auc" if spec.multi_label else "test_acc",
            row["test_acc"],
            row["seconds"],
        )

    def resumed(rounds_done: int) -> None:
        path = checkpoint.path if checkpoint is not None else "-"
        log.info("cycle %d: resuming from the checkpoint after round %d/%d (%s)", cycle, rounds_done, cfg.rounds, path)

    return TrainingHooks(
        eval_batch_size=compute.inference_batch_size, progress=progress, checkpoint=checkpoint, on_resume=resumed
    )


def _evaluation(result: FLResult, spec: DatasetSpec) -> pd.DataFrame:
    final = result.final
    return pd.DataFrame(
        {
            "class": np.arange(spec.num_classes),
            "correct": final.class_correct,
            "total": final.class_total,
            "accuracy": final.class_accuracy,
        }
    )


def _federated_cycle(inputs: StageInputs, compute: Compute, algorithm: TrainingAlgorithm) -> FederatedCycle:
    """Cycle ``inputs.cycle``'s fresh model (with the module the strategy trains with it), the clients'
    labelled sets, the protocol as the trainers read it and the FL algorithm, prepared for the cycle."""
    setting, protocol, fidelity, spec = inputs.setting, inputs.protocol, inputs.fidelity, inputs.spec
    data = inputs.setting_data(compute.device)
    clients = [  # multi-hot rows for multi-label data
        ClientData(positions=pos, labels=data.targets_of(pos))
        for pos in labelled_lists(inputs.labelled, setting.num_clients)
    ]
    extension = load_extension(algorithm.trains_with)
    if spec.multi_label and extension is not None:
        raise ValueError(f"{setting.dataset} is multi-label: a module trained with the model is single-label only")
    init_seed = model_init_seed(inputs.seed, inputs.cycle, fidelity)
    model = build_cycle_model(protocol.model, spec, init_seed, compute.device, extension)
    cfg = replace(
        FLConfig.from_protocol(protocol, fidelity),
        algorithm=algorithm.name,
        extension=extension,
        multi_label=spec.multi_label,
    )
    setup = CycleSetup(
        clients, data, inputs.labelled, spec.num_classes, fidelity, algorithm.options, spec.multi_label, compute.log
    )
    fl_algorithm = cast(type[FedAvg], load_entry(algorithm.entry)).for_cycle(cfg, setup)
    if extension is not None:
        compute.log.info("cycle %d: %s", inputs.cycle, extension.describe(model))
    return FederatedCycle(
        model,
        clients,
        data.train_bank,
        data.test_bank,
        data.test_targets_or_labels,
        spec.num_classes,
        cfg,
        seed_keys=(inputs.seed, "train", inputs.cycle),
        algorithm=fl_algorithm,
    )


def run_training_stage(
    inputs: StageInputs,
    compute: Compute,
    *,
    algorithm: TrainingAlgorithm | None = None,
    keep_client_models: bool = False,
    trainer: str = "sequential",
    vectorised_options: VectorisedOptions | None = None,
    checkpoint: RoundCheckpoint | None = None,
) -> TrainingOutputs:
    """Train cycle ``inputs.cycle`` with ``algorithm`` (FedAvg by default). ``keep_client_models`` returns
    every client's weights after its last-round local training (§5.3) in ``result.client_states``.
    ``trainer`` is "sequential" (the oracle) or "vectorised" (all clients of a round at once, with
    ``vectorised_options``; see RuntimeConfig.resolved_trainer); algorithms with their own client update,
    kept client models, KAFAL's persistent client schedule and modules trained with the model run on the
    sequential trainer. ``checkpoint`` saves the rounds so that a killed job resumes."""
    log, cycle, spec = compute.log, inputs.cycle, inputs.spec
    federated = _federated_cycle(inputs, compute, algorithm or TrainingAlgorithm())
    cfg, clients = federated.cfg, federated.clients
    _log_schedule(log, cycle, cfg)
    trainer = _choose_trainer(trainer, federated, keep_client_models, log)
    log.info(
        "cycle %d: training %s on %s (seed %d) with %d labelled samples over %d clients, %d rounds × %d local "
        "epochs of %s, %s trainer, device %s",
        cycle,
        inputs.protocol.model,
        inputs.setting.id,
        inputs.seed,
        sum(len(c.positions) for c in clients),
        len(clients),
        cfg.rounds,
        cfg.local_epochs,
        cfg.algorithm,
        trainer,
        compute.device,
    )
    run: Trainer = (
        partial(train_vectorised, options=vectorised_options or VectorisedOptions())
        if trainer == "vectorised"
        else partial(train_sequential, keep_client_models=keep_client_models)
    )
    result = run(federated, _progress_hooks(log, cycle, cfg, len(clients), spec, compute, checkpoint))
    if checkpoint is not None and checkpoint.ignored_because:
        log.warning(
            "cycle %d: ignored checkpoint %s (%s); trained from round 0",
            cycle,
            checkpoint.path,
            checkpoint.ignored_because,
        )
    metric = "mean AUC" if spec.multi_label else "accuracy"
    log.info("cycle %d done: final test %s %.2f%%", cycle, metric, result.final.accuracy)
    return TrainingOutputs(result=result, evaluation=_evaluation(result, spec))
