"""Every client of a round trained at once: stacked weights, one batched step per local step.

The sequential trainer (fal.federated.training.train_sequential) runs K clients one after another, each a
few dozen small batches, so on a GPU it is bound by per-batch launch overhead. Here each parameter and
buffer is stacked along a leading client axis, and one ``torch.func.vmap`` of ``grad`` over
``functional_call`` computes every client's batch gradient in one step; convolutions become grouped
convolutions and every client keeps its own exact BatchNorm batch statistics and running statistics
(written in place into the stacked buffers). SGD with momentum and weight decay is applied to the
stacks with the same arithmetic as ``torch.optim.SGD``; the FL algorithm's client hooks (FedProx's
proximal term, SCAFFOLD's step corrections) act on the stacks, and its ``aggregate`` (the same code the
sequential trainer calls) makes the next global state from the clients' rows of the stacks.

Equivalence with the sequential trainer: each client draws its per-epoch permutation and flips from the
same generator in the same order, so it sees the same batches in the same order. Clients with
different labelled-set sizes have different numbers of steps and last-batch sizes; at every step the
clients still training are grouped by batch size and each group is one batched call, so no padding or
masking touches the batch statistics. Results agree to float tolerance, not bit for bit (grouped
convolutions sum in another order); tests/federated/test_vectorised.py checks this for every algorithm.

Images stay uint8 on the device; flips and normalisation happen there per batch (fal.data.images).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from fal.data.images import ImageBank
from fal.federated.algorithms.fedavg import FedAvg, plain_fedavg, proximal_term
from fal.federated.flconfig import FLConfig, round_lr
from fal.federated.sgd import NonFiniteLossError
from fal.federated.training import (
    ClientData,
    FederatedCycle,
    FLResult,
    TrainingHooks,
    evaluate,
    finish_round,
    resume_rounds,
    select_clients,
)
from fal.seeding import torch_generator


@dataclass(frozen=True)
class VectorisedOptions:
    """Speed switches (runtime.compile, runtime.precision); all off by default."""

    compile: str = "off"
    """"off", "default" (torch.compile of the batched gradient step) or "reduce-overhead" (with CUDA graphs)."""
    precision: str = "fp32"
    """"bf16" autocasts the forward pass to bfloat16; "fp32"/"tf32" compute it in float32 (TF32 is a
    process-wide CUDA switch, set by fal.job.configure)."""


@dataclass
class _Group:
    """One batched call: the rows (clients) of the round's stack that take a step of ``size`` samples."""

    rows: torch.Tensor
    columns: torch.Tensor
    """(len(rows), size) columns into the round's sample table."""
    all_rows: bool
    """True when the group is every client of the round, in order (no gather/scatter needed)."""


def _schedule(sizes: list[int], epochs: int, batch_size: int, device: Any) -> list[list[_Group]]:
    """Per local step, the groups of clients with equal batch size (the sequential batch layout)."""
    steps_per_epoch = [-(-n // batch_size) for n in sizes]
    total = [epochs * s for s in steps_per_epoch]
    schedule = []
    for t in range(max(total)):
        by_size: dict[int, list[tuple[int, int]]] = {}
        for row, (n, s) in enumerate(zip(sizes, steps_per_epoch)):
            if t >= epochs * s:
                continue
            epoch, step = divmod(t, s)
            start = step * batch_size
            size = min(batch_size, n - start)
            by_size.setdefault(size, []).append((row, epoch * n + start))
        groups = []
        for size, members in sorted(by_size.items(), reverse=True):
            rows = torch.tensor([m[0] for m in members], dtype=torch.long, device=device)
            starts = torch.tensor([m[1] for m in members], dtype=torch.long, device=device)
            columns = starts[:, None] + torch.arange(size, device=device)[None, :]
            groups.append(_Group(rows=rows, columns=columns, all_rows=len(members) == len(sizes)))
        schedule.append(groups)
    return schedule


def _sample_table(
    clients: list[ClientData], selected: list[int], epochs: int, seed_keys: tuple, round_index: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bank positions, flips and labels of every selected client's samples in visiting order.

    Row i holds client ``selected[i]``'s epochs one after another, drawn from its own generator exactly
    as ``fal.federated.sgd.sgd_epoch`` draws them (per epoch: a permutation, then one flip coin per batch slot).
    """
    width = epochs * max(len(clients[k].positions) for k in selected)
    positions = torch.zeros(len(selected), width, dtype=torch.long)
    flips = torch.zeros(len(selected), width, dtype=torch.bool)
    labels = torch.zeros(len(selected), width, dtype=torch.long)
    for row, k in enumerate(selected):
        client_positions = torch.tensor(np.asarray(clients[k].positions), dtype=torch.long)
        client_labels = torch.tensor(np.asarray(clients[k].labels), dtype=torch.long)
        n = len(client_positions)
        generator = torch_generator(*seed_keys, "fl_client", round_index, k)
        for epoch in range(epochs):
            order = torch.randperm(n, generator=generator)
            coin = torch.rand(n, generator=generator) < 0.5
            positions[row, epoch * n : (epoch + 1) * n] = client_positions[order]
            labels[row, epoch * n : (epoch + 1) * n] = client_labels[order]
            flips[row, epoch * n : (epoch + 1) * n] = coin
    return positions.to(device), flips.to(device), labels.to(device)


class VectorisedRound:
    """The batched local step for one model architecture (built once per cycle, reused every round)."""

    def __init__(self, model: nn.Module, options: VectorisedOptions, prox_mu: float):
        self.model = model
        self.param_names = [name for name, _ in model.named_parameters()]
        self.buffer_names = [name for name, _ in model.named_buffers()]
        autocast = options.precision == "bf16"
        device_type = next(model.parameters()).device.type
        if autocast and device_type != "cuda":
            # CPU batch norm rejects bfloat16 inputs with float32 statistics under vmap.
            raise ValueError("runtime.precision 'bf16' needs a CUDA device; use fp32 on CPU")

        def loss(params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor, anchor: dict | None) -> torch.Tensor:
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
                logits, _ = functional_call(model, (params, buffers), (x,))
            value = F.cross_entropy(logits.float() if autocast else logits, y)
            if anchor is not None:
                value = value + proximal_term(params, anchor, prox_mu)
            return value

        plain = vmap(grad_and_value(lambda p, b, x, y: loss(p, b, x, y, None)))
        proximal = vmap(grad_and_value(loss), in_dims=(0, 0, 0, 0, None))
        if options.compile != "off":
            plain = torch.compile(plain, mode=options.compile, dynamic=False)
            proximal = torch.compile(proximal, mode=options.compile, dynamic=False)
        self._plain, self._proximal = plain, proximal
        self._unused: set[str] | None = None
        self._schedules: dict[tuple, list[list[_Group]]] = {}

    def schedule(self, sizes: list[int], epochs: int, batch_size: int, device: Any) -> list[list[_Group]]:
        """``_schedule``, built once per set of client sizes (they repeat every round of a cycle)."""
        key = (tuple(sizes), epochs, batch_size, str(device))
        if key not in self._schedules:
            self._schedules[key] = _schedule(sizes, epochs, batch_size, device)
        return self._schedules[key]

    def stepped_parameters(self, x: torch.Tensor, proximal: bool) -> list[str]:
        """Names of the parameters that ``torch.optim.SGD`` would update.

        SGD skips parameters whose gradient is None: those the loss does not reach (KAFAL's ResNet-8 has
        unused shortcut convolutions) stay untouched, weight decay and momentum included. ``grad``
        returns zeros for them instead, so they are found once, with autograd on a copy of the model.
        FedProx's term reaches every parameter.
        """
        if proximal:
            return list(self.param_names)
        if self._unused is None:
            probe = copy.deepcopy(self.model).train()
            logits, _ = probe(x[:, :2].reshape(-1, *x.shape[2:]) if x.shape[1] >= 2 else x.reshape(-1, *x.shape[2:]))
            names, tensors = zip(*probe.named_parameters())
            grads = torch.autograd.grad(logits.sum(), tensors, allow_unused=True)
            self._unused = {name for name, g in zip(names, grads) if g is None}
        return [name for name in self.param_names if name not in self._unused]

    def gradients(
        self, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor, anchor: dict | None
    ) -> tuple[dict, torch.Tensor]:
        if anchor is None:
            return self._plain(params, buffers, x, y)
        return self._proximal(params, buffers, x, y, anchor)


def _sgd_(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    momenta: list[torch.Tensor] | None,
    *,
    first: bool,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> list[torch.Tensor] | None:
    """One ``torch.optim.SGD`` step (dampening 0, no Nesterov) on stacked tensors; returns the momenta."""
    if weight_decay != 0:
        torch._foreach_add_(grads, params, alpha=weight_decay)
    if momentum != 0:
        if first or momenta is None:  # momenta is None only at the first step
            momenta = [g.clone() for g in grads]
        else:
            torch._foreach_mul_(momenta, momentum)
            torch._foreach_add_(momenta, grads)
        grads = momenta
    torch._foreach_add_(params, grads, alpha=-lr)
    return momenta


def train_round_vectorised(
    step: VectorisedRound,
    global_state: dict[str, torch.Tensor],
    clients: list[ClientData],
    selected: list[int],
    bank: ImageBank,
    cfg: FLConfig,
    lr: float,
    *,
    seed_keys: tuple,
    round_index: int,
    algorithm: FedAvg,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Train the selected clients from ``global_state``; return the aggregated state and per-client losses.

    Raises NonFiniteLossError naming the round, client and epoch of the first non-finite batch loss.
    """
    device = bank.device
    count = len(selected)
    sizes = [len(clients[k].positions) for k in selected]
    stack = lambda t: t.detach().unsqueeze(0).repeat(count, *([1] * t.dim()))  # noqa: E731
    params = {name: stack(global_state[name]) for name in step.param_names}
    buffers = {name: stack(global_state[name]) for name in step.buffer_names}
    anchor = {name: global_state[name].detach() for name in step.param_names} if algorithm.proximal_mu > 0 else None
    # lr · correction per client (SCAFFOLD's c − c_k), fixed for the round; subtracted after every step.
    corrections = algorithm.step_corrections(selected)
    shift = {key: lr * value for key, value in corrections.items()} if corrections is not None else None
    positions, flips, labels = _sample_table(clients, selected, cfg.local_epochs, seed_keys, round_index, device)
    schedule = step.schedule(sizes, cfg.local_epochs, cfg.batch_size, device)
    losses = torch.full((count, len(schedule)), float("nan"), dtype=torch.float64, device=device)
    names: list[str] | None = None
    momenta = None
    step.model.train()
    height, width, channels = bank.images.shape[1:]
    for t, groups in enumerate(schedule):
        for group in groups:
            rows, cols = group.rows, group.columns
            x = bank.batch(positions[rows[:, None], cols].reshape(-1), flips[rows[:, None], cols].reshape(-1))
            x = x.view(len(rows), cols.shape[1], channels, height, width)
            y = labels[rows[:, None], cols]
            if names is None:
                names = step.stepped_parameters(x, anchor is not None)
                momenta = {k: torch.zeros_like(params[k]) for k in names} if cfg.momentum != 0 else None
            if group.all_rows:
                p, b, m = params, buffers, momenta
            else:
                p = {k: v.index_select(0, rows) for k, v in params.items()}
                b = {k: v.index_select(0, rows) for k, v in buffers.items()}
                m = {k: v.index_select(0, rows) for k, v in momenta.items()} if momenta is not None else None
            grads, loss = step.gradients(p, b, x, y, anchor)
            new_m = _sgd_(
                [p[k] for k in names],
                [grads[k] for k in names],
                [m[k] for k in names] if m is not None else None,
                first=t == 0,
                lr=lr,
                momentum=cfg.momentum,
                weight_decay=cfg.weight_decay,
            )
            if shift is not None:
                with torch.no_grad():
                    for key, value in shift.items():
                        target = p[key] if key in p else b[key]
                        target.sub_(value if group.all_rows else value.index_select(0, rows))
            losses[rows, t] = loss.detach().double()
            if group.all_rows:
                if new_m is not None:
                    momenta = dict(zip(names, new_m))
            else:
                for k in params:
                    params[k].index_copy_(0, rows, p[k])
                for i, k in enumerate(names):
                    if new_m is not None and momenta is not None:
                        momenta[k].index_copy_(0, rows, new_m[i])
                for k in b:
                    buffers[k].index_copy_(0, rows, b[k])
    client_losses = _client_losses(losses.cpu().numpy(), sizes, cfg, selected, round_index)
    local = {**params, **buffers}
    states = [{key: local[key][row] for key in global_state} for row in range(count)]
    return algorithm.aggregate(global_state, states, sizes, selected), client_losses


def _client_losses(
    losses: np.ndarray, sizes: list[int], cfg: FLConfig, selected: list[int], round_index: int
) -> list[float]:
    """Mean over epochs of each client's per-epoch mean batch loss (as train_client reports it)."""
    out = []
    for row, n in enumerate(sizes):
        per_epoch_steps = -(-n // cfg.batch_size)
        mine = losses[row, : cfg.local_epochs * per_epoch_steps].reshape(cfg.local_epochs, per_epoch_steps)
        bad = np.flatnonzero(~np.isfinite(mine.reshape(-1)))
        if bad.size:
            epoch = bad[0] // per_epoch_steps + 1
            raise NonFiniteLossError(
                f"round {round_index + 1}, client {selected[row]}, epoch {epoch}: loss is {mine.reshape(-1)[bad[0]]}. "
                f"Lower protocol.lr, check the input data, or rerun with runtime.deterministic to reproduce it."
            )
        out.append(float(np.mean([float(np.mean(epoch_losses)) for epoch_losses in mine])))
    return out


def train_vectorised(
    cycle: FederatedCycle, hooks: TrainingHooks | None = None, *, options: VectorisedOptions = VectorisedOptions()
) -> FLResult:
    """Drop-in replacement for ``train_sequential`` (same cycle, hooks, outputs, checkpoints and
    randomness) for algorithms whose client update is SGD with the hooks (``algorithm.vectorisable``)."""
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
    if not algorithm.vectorisable:
        raise ValueError(f"{cfg.algorithm} has its own client update; train it with the sequential trainer")
    if cfg.sequential_only:
        raise ValueError(
            "KAFAL's persistent client schedule (optimizer_scope/lr_schedule) and LL4AL's loss module need the "
            "sequential trainer"
        )
    if train_bank.crop_padding:
        raise ValueError("random crops of the training images (protocol.transform: kafal) need the sequential trainer")
    first_round, rows = resume_rounds(model, algorithm, len(clients), checkpoint, hooks.on_resume, train_bank.device)
    step = VectorisedRound(model, options, algorithm.proximal_mu)
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    result = None
    for r in range(first_round, cfg.rounds):
        lr = round_lr(cfg, r)
        everyone = (algorithm.all_clients_last_round or cfg.last_round_all_clients) and r == cfg.rounds - 1
        selected = select_clients(cfg, seed_keys, r, clients, everyone=everyone)
        global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        averaged, losses = train_round_vectorised(
            step,
            global_state,
            clients,
            selected,
            train_bank,
            cfg,
            lr,
            seed_keys=seed_keys,
            round_index=r,
            algorithm=algorithm,
        )
        model.load_state_dict(averaged)
        result = evaluate(model, test_bank, test_labels, num_classes, eval_batch_size)
        finish_round(model, cfg, r, lr, losses, result, start, rows, algorithm, checkpoint, progress)
    if result is None:
        result = evaluate(model, test_bank, test_labels, num_classes, eval_batch_size)
    return FLResult(state_dict=copy.deepcopy(model.state_dict()), rounds=pd.DataFrame(rows), final=result)
