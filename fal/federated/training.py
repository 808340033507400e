"""The sequential federated trainer, and the round bookkeeping both trainers share (reference-spec §4).

This is the oracle that the vectorised trainer (fal.federated.vectorised) is tested against.

One call trains one AL cycle: ``rounds`` communication rounds; each selected client copies the global
model and runs the algorithm's client update (FedAvg's: a fresh SGD optimizer, momentum 0.9, weight
decay on all parameters, ``local_epochs`` epochs of cross-entropy over its labelled set, shuffled, with
random horizontal flips, batch 64, last batch kept), and the algorithm aggregates the clients' states.
The global model is evaluated on the test set after every round. The algorithm
(``FLConfig.algorithm``, fal.federated.algorithms) is the only thing that differs between FedAvg,
FedProx, SCAFFOLD, FedNova and KCFU.

Randomness comes only from generators derived from ``seed_keys`` + (round, client), so a client's
training does not depend on which clients ran before it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fal.data.images import ImageBank, ImageSource
from fal.federated.algorithms.fedavg import FedAvg, plain_fedavg
from fal.federated.flconfig import FLConfig, round_lr
from fal.registry import load_entry
from fal.seeding import numpy_rng, torch_generator


@dataclass
class ClientData:
    positions: np.ndarray
    """Positions of the client's labelled samples in the training view."""
    labels: np.ndarray


@dataclass
class EvalResult:
    accuracy: float
    """Percent correct; for multi-label data the mean AUC in percent (fal.stats.auc), the study's headline
    metric in the same place."""
    loss: float
    """Mean cross-entropy per test image (multi-label: mean BCE over labels)."""
    class_correct: np.ndarray
    class_total: np.ndarray
    """Test images per class (multi-label: with each label)."""
    label_auc: np.ndarray | None = None
    """Multi-label data: each label's AUC in percent (NaN where the test set has one outcome only)."""

    @property
    def class_accuracy(self) -> np.ndarray:
        """Per class: percent correct; multi-label: each label's AUC in percent."""
        if self.label_auc is not None:
            return self.label_auc
        return 100.0 * self.class_correct / np.maximum(self.class_total, 1)


class RoundCheckpoint:
    """The global model and per-round rows saved every ``every`` rounds, so a killed job resumes.

    Each round's randomness is derived from (seed keys, round, client) and every round starts clients
    from the global model with a fresh optimizer, so continuing from a saved round gives exactly the
    result of an uninterrupted run. ``fingerprint`` identifies the job (its parameters, code and
    labelled set); a checkpoint with another fingerprint, or an unreadable one, is ignored.
    """

    def __init__(self, path: str | Path, every: int, fingerprint: str):
        if every < 1:
            raise ValueError(f"checkpoint interval must be >= 1 round, got {every}")
        self.path = Path(path)
        self.every = every
        self.fingerprint = fingerprint
        self.ignored_because: str | None = None
        """Why an existing checkpoint file was not used (for the job log), else None."""
        self.extra: dict | None = None
        """Algorithm state saved beside the model (SCAFFOLD's control variates), set by ``load``."""
        self.schedule: dict | None = None
        """The client schedule's state (KAFAL's persistent optimisers and epoch counts), set by ``load``."""

    def load(self) -> tuple[int, dict, list[dict]] | None:
        self.ignored_because = None
        self.extra = None
        if not self.path.exists():
            return None
        try:
            blob = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # a torn or foreign file: start over rather than fail
            self.ignored_because = f"unreadable ({type(error).__name__})"
            return None
        if blob.get("fingerprint") != self.fingerprint:
            self.ignored_because = "written for other inputs or parameters"
            return None
        self.extra = blob.get("extra")
        self.schedule = blob.get("schedule")
        return int(blob["rounds_done"]), blob["model"], list(blob["rows"])

    def save(
        self, rounds_done: int, state: dict, rows: list[dict], extra: dict | None = None, schedule: dict | None = None
    ) -> None:
        from fal.io import torch_save

        blob = {
            "fingerprint": self.fingerprint,
            "rounds_done": rounds_done,
            "model": {k: v.detach().cpu() for k, v in state.items()},
            "rows": rows,
            "extra": extra,
            "schedule": schedule,
        }
        torch_save(blob, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class FLResult:
    state_dict: dict[str, torch.Tensor]
    rounds: pd.DataFrame
    """One row per round: round (1-based), lr, train_loss, test_loss, test_acc, seconds."""
    final: EvalResult
    client_states: dict[int, dict[str, torch.Tensor]] | None = None
    """With ``keep_client_models``: each client's weights after its local training in the last round
    (clients that did not take part in the last round are absent)."""


@torch.no_grad()
def evaluate(model: nn.Module, bank: ImageSource, labels: np.ndarray, num_classes: int, batch_size: int) -> EvalResult:
    """Accuracy and mean loss of ``model`` (eval mode) on every image of ``bank``; multi-hot ``labels``
    (N × L) give the mean AUC instead (``evaluate_multilabel``)."""
    if np.asarray(labels).ndim == 2:
        return evaluate_multilabel(model, bank, labels, batch_size)
    model.eval()
    labels_t = torch.tensor(np.asarray(labels), dtype=torch.long, device=bank.device)
    correct = torch.zeros(num_classes, dtype=torch.long, device=bank.device)
    total_loss = 0.0
    n = len(bank)
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n), device=bank.device)
        logits, _ = model(bank.batch(index))
        y = labels_t[index]
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        hits = logits.argmax(dim=1) == y
        correct += torch.bincount(y[hits], minlength=num_classes)
    class_total = np.bincount(np.asarray(labels), minlength=num_classes)
    class_correct = correct.cpu().numpy()
    return EvalResult(
        accuracy=100.0 * float(class_correct.sum()) / n,
        loss=total_loss / n,
        class_correct=class_correct,
        class_total=class_total,
    )


@torch.no_grad()
def evaluate_multilabel(model: nn.Module, bank: ImageSource, targets: np.ndarray, batch_size: int) -> EvalResult:
    """Mean AUC (macro over labels with both outcomes in the test set) and mean BCE of ``model`` on ``bank``."""
    mean_auc = load_entry("fal.stats.auc:mean_auc")  # multi-label code: loaded (and hashed) only for multi-label jobs
    model.eval()
    targets = np.asarray(targets)
    targets_t = torch.tensor(targets, dtype=torch.float32, device=bank.device)
    total_loss, scores = 0.0, []
    n = len(bank)
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n), device=bank.device)
        logits, _ = model(bank.batch(index))
        y = targets_t[index]
        total_loss += F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(dim=1).sum().item()
        scores.append(logits.float().cpu())
    auc = mean_auc(targets, torch.cat(scores).numpy())
    positives = targets.sum(axis=0).astype(np.int64)
    return EvalResult(
        accuracy=100.0 * auc.mean,
        loss=total_loss / n,
        class_correct=np.zeros_like(positives),
        class_total=positives,
        label_auc=100.0 * auc.per_label,
    )


def select_clients(
    cfg: FLConfig, seed_keys: tuple, round_index: int, clients: list[ClientData], everyone: bool = False
) -> list[int]:
    """The clients of one round (sorted; those without labelled data dropped): a ``client_fraction``
    sample drawn from (seed keys, round), or all of them when the fraction is 1 or ``everyone``."""
    num_clients = len(clients)
    per_round = max(int(cfg.client_fraction * num_clients), 1)
    if per_round < num_clients and not everyone:
        chosen = np.sort(
            numpy_rng(*seed_keys, "client_sample", round_index).choice(num_clients, per_round, replace=False)
        )
    else:
        chosen = np.arange(num_clients)
    selected = [int(k) for k in chosen if len(clients[k].positions) > 0]
    if not selected:
        raise ValueError("no selected client holds labelled data")
    return selected


def resume_rounds(
    model: nn.Module,
    algorithm: FedAvg,
    num_clients: int,
    checkpoint: RoundCheckpoint | None,
    on_resume: Callable[[int], None] | None,
    device: Any,
) -> tuple[int, list[dict]]:
    """Where a cycle's round loop starts: (first round, rows so far). Starts the algorithm's cycle, then
    restores ``model`` and the algorithm's state from a matching checkpoint when there is one. Shared by
    both trainers."""
    algorithm.start_cycle(model, num_clients)
    resumed = checkpoint.load() if checkpoint is not None else None
    if resumed is None:
        return 0, []
    assert checkpoint is not None
    first_round, state, rows = resumed
    model.load_state_dict(state)
    algorithm.restore(checkpoint.extra, device)
    algorithm.restore_schedule(checkpoint.schedule)
    if on_resume is not None:
        on_resume(first_round)
    return first_round, rows


def finish_round(
    model: nn.Module,
    cfg: FLConfig,
    r: int,
    lr: float,
    losses: list[float],
    result: EvalResult,
    start: float,
    rows: list[dict],
    algorithm: FedAvg,
    checkpoint: RoundCheckpoint | None,
    progress: Callable[[dict], None] | None,
) -> None:
    """Record round ``r``'s row, checkpoint when due, then report. Shared by both trainers."""
    row = {
        "round": r + 1,
        "lr": lr,
        "train_loss": float(np.mean(losses)),
        "test_loss": result.loss,
        "test_acc": result.accuracy,
        "seconds": time.perf_counter() - start,
    }
    rows.append(row)
    # Save before reporting, so a round that appears in the log is never recomputed.
    if checkpoint is not None and (r + 1) % checkpoint.every == 0 and r + 1 < cfg.rounds:
        checkpoint.save(r + 1, model.state_dict(), rows, algorithm.checkpoint_state(), algorithm.schedule_state())
    if progress is not None:
        progress({**row, "clients": len(losses)})  # how many clients trained: the log's, not a result


@dataclass
class FederatedCycle:
    """One AL cycle's federated training problem, as every trainer takes it: the model (trained in
    place from its current weights), each client's labelled data, the image banks, the protocol, the
    algorithm (default: ``cfg.algorithm`` from the registry) and the keys every random draw derives from."""

    model: nn.Module
    clients: list[ClientData]
    train_bank: ImageBank
    test_bank: ImageBank
    test_labels: np.ndarray
    num_classes: int
    cfg: FLConfig
    seed_keys: tuple
    algorithm: FedAvg | None = None


@dataclass
class TrainingHooks:
    """How a trainer evaluates, reports and persists a cycle while it runs; none of it changes the result.

    With ``checkpoint``, state is saved every ``checkpoint.every`` rounds and a matching saved state is
    resumed from (``on_resume`` is told the number of rounds already done); ``progress`` gets each
    round's row."""

    eval_batch_size: int = 128
    progress: Callable[[dict], None] | None = None
    checkpoint: RoundCheckpoint | None = None
    on_resume: Callable[[int], None] | None = None


class Trainer(Protocol):
    """The one trainer interface: ``train_sequential`` and ``train_vectorised`` (with their own options
    bound, e.g. ``functools.partial(train_vectorised, options=...)``)."""

    def __call__(self, cycle: FederatedCycle, hooks: TrainingHooks) -> FLResult: ...


def train_sequential(
    cycle: FederatedCycle, hooks: TrainingHooks | None = None, *, keep_client_models: bool = False
) -> FLResult:
    """Run ``cfg.rounds`` rounds of the cycle's algorithm, one client after another (the oracle the
    vectorised trainer is tested against). ``keep_client_models`` returns each client's last-round
    weights (§5.3) in ``client_states``.
    """
    hooks = hooks or TrainingHooks()
    model, clients, train_bank, cfg, seed_keys = (
        cycle.model,
        cycle.clients,
        cycle.train_bank,
        cycle.cfg,
        cycle.seed_keys,
    )
    test_bank, test_labels, num_classes = cycle.test_bank, cycle.test_labels, cycle.num_classes
    eval_batch_size, checkpoint, progress = hooks.eval_batch_size, hooks.checkpoint, hooks.progress
    algorithm = cycle.algorithm or plain_fedavg(cfg)
    first_round, rows = resume_rounds(model, algorithm, len(clients), checkpoint, hooks.on_resume, train_bank.device)
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    result = None
    client_states = None
    for r in range(first_round, cfg.rounds):
        lr = round_lr(cfg, r)
        everyone = (algorithm.all_clients_last_round or cfg.last_round_all_clients) and r == cfg.rounds - 1
        selected = select_clients(cfg, seed_keys, r, clients, everyone=everyone)
        corrections = algorithm.step_corrections(selected)
        global_start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        states, losses = [], []
        for i, k in enumerate(selected):
            local = copy.deepcopy(model)
            loss = algorithm.client_update(
                local,
                int(k),
                clients[k],
                train_bank,
                round_index=r,
                lr=lr,
                global_model=model,
                generator=torch_generator(*seed_keys, "fl_client", r, int(k)),
                where=f"round {r + 1}, client {k}",
                correction={key: c[i] for key, c in corrections.items()} if corrections is not None else None,
            )
            states.append(local.state_dict())
            losses.append(loss)
        if keep_client_models and r == cfg.rounds - 1:
            client_states = {int(k): copy.deepcopy(state) for k, state in zip(selected, states)}
        sizes = [len(clients[k].positions) for k in selected]
        model.load_state_dict(algorithm.aggregate(global_start, states, sizes, selected))
        result = evaluate(model, test_bank, test_labels, num_classes, eval_batch_size)
        finish_round(model, cfg, r, lr, losses, result, start, rows, algorithm, checkpoint, progress)
    if result is None:  # resumed after the last round: evaluate the restored model
        result = evaluate(model, test_bank, test_labels, num_classes, eval_batch_size)
    return FLResult(
        state_dict=copy.deepcopy(model.state_dict()),
        rounds=pd.DataFrame(rows),
        final=result,
        client_states=client_states,
    )
