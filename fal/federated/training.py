"""FedAvg, FedProx and SCAFFOLD, plain and sequential (reference-spec §4.1–§4.3).

This is the oracle that the vectorised trainer (fal.federated.vectorised) is tested against.

One call trains one AL cycle: ``rounds`` communication rounds; each selected client copies the global
model, makes a fresh SGD optimizer (momentum 0.9, weight decay on all parameters), runs
``local_epochs`` epochs of cross-entropy over its labelled set (shuffled, random horizontal flips,
batch 64, last batch kept), and the server averages every state entry (BN buffers included) weighted
by labelled-set size. The global model is evaluated on the test set after every round. FedProx and
SCAFFOLD (``FLConfig.algorithm``) change the local step as described in fal.federated.algorithms.

Randomness comes only from generators derived from ``seed_keys`` + (round, client), so a client's
training does not depend on which clients ran before it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fal.config import FidelityConfig, ProtocolConfig
from fal.data.images import ImageBank
from fal.federated.algorithms import ScaffoldState, proximal_term
from fal.seeding import numpy_rng, torch_generator


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


@dataclass(frozen=True)
class FLConfig:
    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    lr_decay: float
    lr_decay_at: float
    client_fraction: float
    lr_decay_rule: str = "official"
    algorithm: str = "fedavg"
    """fedavg, fedprox or scaffold (§4.1–§4.3)."""
    fedprox_mu: float = 0.01

    @classmethod
    def from_protocol(cls, protocol: ProtocolConfig, fidelity: FidelityConfig) -> FLConfig:
        return cls(
            rounds=protocol.rounds,
            local_epochs=protocol.local_epochs,
            batch_size=protocol.batch_size,
            lr=protocol.lr,
            momentum=protocol.momentum,
            weight_decay=protocol.weight_decay,
            lr_decay=protocol.lr_decay,
            lr_decay_at=protocol.lr_decay_at,
            client_fraction=protocol.client_fraction,
            lr_decay_rule=fidelity.fl_lr_decay,
            algorithm=protocol.fl_algorithm,
            fedprox_mu=protocol.fedprox_mu,
        )


def round_lr(cfg: FLConfig, round_index: int) -> float:
    """Learning rate of a 0-based round.

    Official: decayed once ``round_index > int(lr_decay_at · rounds)`` (rounds 76–99 of 100). Paper: from
    ``round_index >= int(lr_decay_at · rounds)`` ("after round 75").
    """
    milestone = int(cfg.rounds * cfg.lr_decay_at)
    decayed = round_index > milestone if cfg.lr_decay_rule == "official" else round_index >= milestone
    return cfg.lr * (cfg.lr_decay if decayed else 1.0)


@dataclass
class ClientData:
    positions: np.ndarray
    """Positions of the client's labelled samples in the training view."""
    labels: np.ndarray


@dataclass
class EvalResult:
    accuracy: float
    """Percent correct."""
    loss: float
    """Mean cross-entropy per test image."""
    class_correct: np.ndarray
    class_total: np.ndarray

    @property
    def class_accuracy(self) -> np.ndarray:
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
        return int(blob["rounds_done"]), blob["model"], list(blob["rows"])

    def save(self, rounds_done: int, state: dict, rows: list[dict], extra: dict | None = None) -> None:
        from fal.io import torch_save

        blob = {
            "fingerprint": self.fingerprint,
            "rounds_done": rounds_done,
            "model": {k: v.detach().cpu() for k, v in state.items()},
            "rows": rows,
            "extra": extra,
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
def evaluate(model: nn.Module, bank: ImageBank, labels: np.ndarray, num_classes: int, batch_size: int) -> EvalResult:
    """Accuracy and mean loss of ``model`` (eval mode) on every image of ``bank``."""
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


def check_finite(loss: torch.Tensor, where: str) -> None:
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"{where}: loss is {loss.item()}. Lower protocol.lr, check the input data, or rerun with "
            f"runtime.deterministic to reproduce it."
        )


def train_client(
    model: nn.Module,
    client: ClientData,
    bank: ImageBank,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    generator: torch.Generator,
    where: str,
    prox_mu: float = 0.0,
    scaffold_correction: dict[str, torch.Tensor] | None = None,
) -> float:
    """Train ``model`` in place on one client's labelled set; return the mean of per-epoch mean losses.

    ``prox_mu`` > 0 adds FedProx's proximal term towards the starting weights; ``scaffold_correction``
    (``c − c_k`` per floating state key) is subtracted, times lr, from the state after every SGD step.
    """
    model.train()
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()} if prox_mu > 0 else None
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    positions = torch.tensor(np.asarray(client.positions), dtype=torch.long)
    labels = torch.tensor(np.asarray(client.labels), dtype=torch.long, device=bank.device)
    n = len(positions)
    epoch_losses = []
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5
        batch_losses = []
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            x = bank.batch(positions[index], flips[start : start + batch_size])
            optimizer.zero_grad(set_to_none=True)
            logits, _ = model(x)
            loss = F.cross_entropy(logits, labels[index.to(bank.device)])
            if anchor is not None:
                loss = loss + proximal_term(dict(model.named_parameters()), anchor, prox_mu)
            check_finite(loss, f"{where}, epoch {epoch + 1}")
            loss.backward()
            optimizer.step()
            if scaffold_correction is not None:
                with torch.no_grad():
                    for key, value in model.state_dict().items():
                        if key in scaffold_correction:
                            value.sub_(lr * scaffold_correction[key])
            batch_losses.append(loss.item())
        epoch_losses.append(sum(batch_losses) / len(batch_losses))
    return sum(epoch_losses) / len(epoch_losses)


def average_states(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """Weighted average of every state entry; integer buffers are averaged then truncated back."""
    averaged = {}
    for key, reference in states[0].items():
        acc = sum(state[key].to(torch.float64) * w for state, w in zip(states, weights))
        averaged[key] = acc.to(reference.dtype) if reference.is_floating_point() else acc.trunc().to(reference.dtype)
    return averaged


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
    cfg: FLConfig,
    num_clients: int,
    checkpoint: RoundCheckpoint | None,
    on_resume: Callable[[int], None] | None,
    device,
) -> tuple[int, list[dict], ScaffoldState | None]:
    """Where a cycle's round loop starts: (first round, rows so far, SCAFFOLD state), restored into
    ``model`` from a matching checkpoint when there is one. Shared by both trainers."""
    scaffold = ScaffoldState.initial(model.state_dict(), num_clients) if cfg.algorithm == "scaffold" else None
    resumed = checkpoint.load() if checkpoint is not None else None
    if resumed is None:
        return 0, [], scaffold
    first_round, state, rows = resumed
    model.load_state_dict(state)
    if scaffold is not None:
        scaffold = ScaffoldState.from_blob(checkpoint.extra["scaffold"], device)
    if on_resume is not None:
        on_resume(first_round)
    return first_round, rows, scaffold


def finish_round(
    model: nn.Module,
    cfg: FLConfig,
    r: int,
    lr: float,
    losses: list[float],
    result: EvalResult,
    start: float,
    rows: list[dict],
    scaffold: ScaffoldState | None,
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
        checkpoint.save(
            r + 1, model.state_dict(), rows, {"scaffold": scaffold.to_blob()} if scaffold is not None else None
        )
    if progress is not None:
        progress(row)


def train_fedavg(
    model: nn.Module,
    clients: list[ClientData],
    train_bank: ImageBank,
    test_bank: ImageBank,
    test_labels: np.ndarray,
    num_classes: int,
    cfg: FLConfig,
    *,
    seed_keys: tuple,
    eval_batch_size: int = 128,
    progress: Callable[[dict], None] | None = None,
    checkpoint: RoundCheckpoint | None = None,
    on_resume: Callable[[int], None] | None = None,
    local_update: Callable[..., float] | None = None,
    keep_client_models: bool = False,
    all_clients_last_round: bool = False,
) -> FLResult:
    """Run ``cfg.rounds`` rounds of ``cfg.algorithm`` from ``model``'s current weights (modified in place).

    With ``checkpoint``, state is saved every ``checkpoint.every`` rounds and a matching saved state
    is resumed from (``on_resume`` is told the number of rounds already done).

    ``local_update`` replaces the plain cross-entropy client update (KAFAL's KCFU, fal.federated.kcfu):
    it is called as ``local_update(local, k, r, lr, global_model, generator, where)`` and returns the
    client's loss. ``keep_client_models`` returns each client's last-round weights (§5.3);
    ``all_clients_last_round`` makes every client train in the last round (KAFAL's code).
    """
    if local_update is not None and cfg.algorithm != "fedavg":
        raise ValueError(
            f"a custom local update (KCFU) runs on FedAvg aggregation, not {cfg.algorithm}; set protocol.fl_algorithm: fedavg"
        )
    first_round, rows, scaffold = resume_rounds(model, cfg, len(clients), checkpoint, on_resume, train_bank.device)
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    result = None
    client_states = None
    for r in range(first_round, cfg.rounds):
        lr = round_lr(cfg, r)
        selected = select_clients(cfg, seed_keys, r, clients, everyone=all_clients_last_round and r == cfg.rounds - 1)
        total = sum(len(clients[k].positions) for k in selected)
        corrections = scaffold.corrections(selected) if scaffold is not None else None
        global_start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        states, weights, losses = [], [], []
        for i, k in enumerate(selected):
            local = copy.deepcopy(model)
            generator = torch_generator(*seed_keys, "fl_client", r, int(k))
            where = f"round {r + 1}, client {k}"
            if local_update is None:
                loss = train_client(
                    local,
                    clients[k],
                    train_bank,
                    epochs=cfg.local_epochs,
                    batch_size=cfg.batch_size,
                    lr=lr,
                    momentum=cfg.momentum,
                    weight_decay=cfg.weight_decay,
                    generator=generator,
                    where=where,
                    prox_mu=cfg.fedprox_mu if cfg.algorithm == "fedprox" else 0.0,
                    scaffold_correction={key: c[i] for key, c in corrections.items()}
                    if corrections is not None
                    else None,
                )
            else:
                loss = local_update(local, int(k), r, lr, model, generator, where)
            states.append(local.state_dict())
            weights.append(len(clients[k].positions) / total)
            losses.append(loss)
        if keep_client_models and r == cfg.rounds - 1:
            client_states = {int(k): copy.deepcopy(state) for k, state in zip(selected, states)}
        if scaffold is not None:
            steps = torch.tensor([cfg.local_epochs * -(-len(clients[k].positions) // cfg.batch_size) for k in selected])
            ends = {key: torch.stack([state[key] for state in states]) for key in scaffold.c}
            scaffold.update(selected, global_start, ends, steps, cfg.lr)
        model.load_state_dict(average_states(states, weights))
        result = evaluate(model, test_bank, test_labels, num_classes, eval_batch_size)
        finish_round(model, cfg, r, lr, losses, result, start, rows, scaffold, checkpoint, progress)
    if result is None:  # resumed after the last round: evaluate the restored model
        result = evaluate(model, test_bank, test_labels, num_classes, eval_batch_size)
    return FLResult(
        state_dict=copy.deepcopy(model.state_dict()),
        rounds=pd.DataFrame(rows),
        final=result,
        client_states=client_states,
    )
