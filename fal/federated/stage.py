"""The training stage: one AL cycle of federated training from a fresh model on a labelled set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, cast

import numpy as np
import pandas as pd
from torch import nn

from fal.config import FidelityConfig
from fal.config.algorithms import choose_algorithm
from fal.data.build import labelled_lists
from fal.data.views import Compute, StageInputs
from fal.federated.algorithms import make_algorithm
from fal.federated.algorithms.kcfu import KCFUContext
from fal.federated.flconfig import FLConfig
from fal.federated.loss_prediction import LossPredictionConfig, build_strategy_model
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
from fal.seeding import derive_seed


def model_init_seed(seed: int, cycle: int, fidelity: FidelityConfig) -> int:
    """Seed of the fresh model built at the start of a cycle.

    The official code reseeds torch with 0 while partitioning, so cycle 1's init is the same for every
    run seed (``shared_cycle1_init``); later cycles depend on the run seed.
    """
    if cycle == 1 and fidelity.shared_cycle1_init:
        return derive_seed("model_init", 1)
    return derive_seed(seed, "model_init", cycle)


def kcfu_distillation_pools(
    pools: list[np.ndarray], labelled: pd.DataFrame, num_clients: int, mode: str
) -> list[np.ndarray]:
    """Each client's pool KCFU distils on, ascending (KAFAL's own loop): its pool less its current
    labelled set ("current"), or less its cycle-1 labelled set ("initial": the official code distils on
    the pool it started the trial with, samples labelled since then included; §7.2)."""
    if mode == "initial":
        labelled = labelled[labelled["cycle_added"] == 1]
    elif mode != "current":
        raise ValueError(f"unknown distillation pool {mode!r} (initial or current)")
    return [np.setdiff1d(pool, known) for pool, known in zip(pools, labelled_lists(labelled, num_clients))]


@dataclass
class TrainingOutputs:
    result: FLResult
    evaluation: pd.DataFrame


def run_training_stage(
    inputs: StageInputs,
    compute: Compute,
    *,
    federated: Mapping[str, Any] | None = None,
    keep_client_models: bool = False,
    trainer: str = "sequential",
    vectorised_options: VectorisedOptions | None = None,
    checkpoint: RoundCheckpoint | None = None,
) -> TrainingOutputs:
    """Train cycle ``inputs.cycle``. ``federated`` is a strategy's resolved FL algorithm (fedavg or
    KAFAL's kcfu, see ``StrategyConfig.resolved_federated``); ``keep_client_models`` returns every
    client's weights after its last-round local training (§5.3) in ``result.client_states``. ``trainer``
    is "sequential" (the oracle) or "vectorised" (all clients of a round at once, with
    ``vectorised_options``; see RuntimeConfig.resolved_trainer); KCFU, kept client models, KAFAL's
    persistent client schedule and LL4AL's loss module (``federated["loss_prediction"]``) run on the
    sequential trainer. ``checkpoint`` saves the rounds so that a killed job resumes."""
    setting, protocol, fidelity, seed, cycle = (
        inputs.setting,
        inputs.protocol,
        inputs.fidelity,
        inputs.seed,
        inputs.cycle,
    )
    device, log = compute.device, compute.log
    spec = inputs.spec
    data = inputs.setting_data(device)
    lists = labelled_lists(inputs.labelled, setting.num_clients)
    clients = [
        ClientData(positions=pos, labels=data.targets_of(pos)) for pos in lists
    ]  # multi-hot rows for multi-label data
    federated = dict(federated or {"algorithm": "fedavg"})
    loss_prediction = federated.get("loss_prediction")
    model = build_strategy_model(protocol.model, spec, model_init_seed(seed, cycle, fidelity), device, loss_prediction)
    cfg = replace(
        FLConfig.from_protocol(protocol, fidelity),
        algorithm=choose_algorithm(protocol.fl_algorithm, federated),
        loss_prediction=None if loss_prediction is None else LossPredictionConfig.from_dict(loss_prediction),
        multi_label=spec.multi_label,
    )
    if spec.multi_label and cfg.loss_prediction is not None:
        raise ValueError(f"{setting.dataset} is multi-label: LL4AL's loss module is single-label only")
    context = None
    if cfg.algorithm == "kcfu":
        # KAFAL's compensation term samples each client's unlabelled pool (ascending: KAFAL's own loop):
        # the pool at the start of the trial (faithful) or the current one (fidelity.kcfu_distillation_pool).
        unlabelled = kcfu_distillation_pools(
            data.pools, inputs.labelled, setting.num_clients, fidelity.kcfu_distillation_pool
        )
        context = KCFUContext(
            clients,
            unlabelled,
            spec.num_classes,
            data.train_bank,
            federated,
            teacher_bn=fidelity.kcfu_teacher_bn,
            multi_label=spec.multi_label,
        )
        log.info("cycle %d: local updates use KAFAL's KCFU %s", cycle, federated)
    algorithm = make_algorithm(cfg, context)
    if cfg.loss_prediction is not None:
        log.info(
            "cycle %d: a loss-prediction module (LL4AL, %d parameters) trains with the model: %s",
            cycle,
            sum(p.numel() for p in cast(nn.Module, model.loss_module).parameters()),
            loss_prediction,
        )
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
    log.info(
        "cycle %d: training %s on %s (seed %d) with %d labelled samples over %d clients, %d rounds × %d local "
        "epochs of %s, %s trainer, device %s",
        cycle,
        protocol.model,
        setting.id,
        seed,
        sum(len(c.positions) for c in clients),
        len(clients),
        cfg.rounds,
        cfg.local_epochs,
        cfg.algorithm,
        trainer,
        device,
    )

    def progress(row: dict) -> None:
        log.info(
            "cycle %d round %d/%d clients %d/%d lr %.4g train_loss %.4f test_loss %.4f %s %.2f%% elapsed %.1fs",
            cycle,
            row["round"],
            cfg.rounds,
            row["clients"],
            len(clients),
            row["lr"],
            row["train_loss"],
            row["test_loss"],
            "test_mean_auc" if spec.multi_label else "test_acc",
            row["test_acc"],
            row["seconds"],
        )

    def resumed(rounds_done: int) -> None:
        log.info(
            "cycle %d: resuming from the checkpoint after round %d/%d (%s)",
            cycle,
            rounds_done,
            cfg.rounds,
            checkpoint.path if checkpoint is not None else "-",
        )

    if trainer not in ("sequential", "vectorised"):
        raise ValueError(f"unknown trainer {trainer!r}; use 'sequential' or 'vectorised'")
    if trainer == "vectorised" and (
        not algorithm.vectorisable or keep_client_models or cfg.sequential_only or data.train_bank.crop_padding
    ):
        log.info(
            "cycle %d: %s, kept client models, KAFAL's persistent client schedule and transform, and loss modules "
            "need the sequential trainer; using it",
            cycle,
            cfg.algorithm,
        )
        trainer = "sequential"
    run: Trainer = (
        partial(train_vectorised, options=vectorised_options or VectorisedOptions())
        if trainer == "vectorised"
        else partial(train_sequential, keep_client_models=keep_client_models)
    )
    result = run(
        FederatedCycle(
            model,
            clients,
            data.train_bank,
            data.test_bank,
            data.test_targets_or_labels,
            spec.num_classes,
            cfg,
            seed_keys=(seed, "train", cycle),
            algorithm=algorithm,
        ),
        TrainingHooks(
            eval_batch_size=compute.inference_batch_size, progress=progress, checkpoint=checkpoint, on_resume=resumed
        ),
    )
    if checkpoint is not None and checkpoint.ignored_because:
        log.warning(
            "cycle %d: ignored checkpoint %s (%s); trained from round 0",
            cycle,
            checkpoint.path,
            checkpoint.ignored_because,
        )
    final = result.final
    evaluation = pd.DataFrame(
        {
            "class": np.arange(spec.num_classes),
            "correct": final.class_correct,
            "total": final.class_total,
            "accuracy": final.class_accuracy,
        }
    )
    log.info(
        "cycle %d done: final test %s %.2f%%", cycle, "mean AUC" if spec.multi_label else "accuracy", final.accuracy
    )
    return TrainingOutputs(result=result, evaluation=evaluation)
