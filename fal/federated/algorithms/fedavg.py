"""FedAvg (reference-spec §4.1) and the interface every FL algorithm implements.

Both trainers (fal.federated.training, sequential; fal.federated.vectorised, all clients at once) run
the same round: select clients, train each from the global model with a fresh SGD optimizer, aggregate.
An algorithm changes that round only through the hooks below:

- per cycle: ``start_cycle`` (state such as SCAFFOLD's control variates), ``checkpoint_state`` /
  ``restore`` (that state in the round checkpoint);
- client side: ``proximal_mu`` (FedProx's loss term), ``step_corrections`` (subtracted, times lr, from
  the client's state after every SGD step), or a whole ``client_update`` (KCFU; not vectorisable);
- shared by every client update (sequential trainer only): ``labelled_loss`` (LL4AL's joint loss when a
  loss module trains with the model), ``start_client``/``finish_client`` (what crosses rounds per
  client: KAFAL's persistent optimisers, LL4AL's per-client modules);
- server side: ``aggregate`` (the new global state from the clients' final states).

FedAvg: plain cross-entropy SGD per client, size-weighted average of every state entry (BN buffers
included; integer buffers averaged then truncated).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from fal.config.algorithms import AlgorithmInfo
from fal.data.images import ImageBank
from fal.federated.flconfig import CycleSetup, FLConfig, client_epoch_lr
from fal.federated.sgd import (
    LabelledSet,
    LossFunction,
    PerSampleLoss,
    binary_cross_entropy_loss,
    cross_entropy_loss,
    cross_entropy_per_sample,
    mean_epoch_loss,
    sgd_optimizer,
)

ALGORITHM = AlgorithmInfo("fedavg", entry="FedAvg", summary="FedAvg (§4.1)", chosen_by="protocol")


def proximal_term(params: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor], mu: float) -> torch.Tensor:
    """``(μ/2)·Σ ||w − w_global||²`` over the given parameters (not buffers)."""
    total = cast(torch.Tensor, sum(((params[name] - anchor[name]) ** 2).sum() for name in anchor))
    return 0.5 * mu * total


def weighted_average(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """Weighted average of every state entry, accumulated in float64; integer buffers are truncated back."""
    averaged = {}
    for key, reference in states[0].items():
        acc = cast(torch.Tensor, sum(state[key].to(torch.float64) * w for state, w in zip(states, weights)))
        averaged[key] = acc.to(reference.dtype) if reference.is_floating_point() else acc.trunc().to(reference.dtype)
    return averaged


def train_client(
    model: nn.Module,
    client: Any,
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
    optimizer: torch.optim.Optimizer | None = None,
    before_epoch: Callable[[int], None] | None = None,
    labelled_loss: LossFunction | None = None,
    multi_label: bool = False,
) -> float:
    """Train ``model`` in place on one client's labelled set; return the mean of per-epoch mean losses.

    ``prox_mu`` > 0 adds FedProx's proximal term towards the starting weights; ``scaffold_correction``
    (``c − c_k`` per floating state key) is subtracted, times lr, from the state after every SGD step.
    ``optimizer`` (over ``model``'s parameters) and ``before_epoch`` come from a persistent schedule
    (FedAvg.local_optimizer); by default a fresh SGD at ``lr``. ``labelled_loss`` replaces the batch
    cross-entropy (LL4AL's joint loss, FedAvg.labelled_loss); ``multi_label``: the batch loss is BCE on
    multi-hot labels.
    """
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()} if prox_mu > 0 else None
    optimizer = optimizer or sgd_optimizer(model, lr, momentum, weight_decay)
    data = LabelledSet.of(client.positions, client.labels, bank)

    def loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        value = (labelled_loss or (binary_cross_entropy_loss if multi_label else cross_entropy_loss))(net, x, y)
        if anchor is not None:
            value = value + proximal_term(dict(net.named_parameters()), anchor, prox_mu)
        return value

    after = None
    if scaffold_correction is not None:
        correction = scaffold_correction

        def correct() -> None:
            with torch.no_grad():
                for key, value in model.state_dict().items():
                    if key in correction:
                        value.sub_(lr * correction[key])

        after = correct
    return mean_epoch_loss(
        model, optimizer, data, epochs, batch_size, generator, loss, where, after_step=after, before_epoch=before_epoch
    )


class FedAvg:
    """FedAvg; the base of every algorithm (override only the hooks that differ)."""

    vectorisable = True
    """False when ``client_update`` is replaced by something the vectorised trainer cannot batch."""
    all_clients_last_round = False
    """True: every client trains in the cycle's last round, whatever ``client_fraction`` (KAFAL's code)."""

    def __init__(self, cfg: FLConfig, context: Any = None):
        self.cfg = cfg
        self.context = context
        self.client_optimizers: dict[int, dict] = {}
        """KAFAL's schedule (optimizer_scope "cycle"): each client's optimiser state, kept across rounds."""
        self.client_epochs: dict[int, int] = {}
        """Local epochs each client has trained in this cycle (lr_schedule "client_epoch")."""
        self.client_modules: dict[int, dict] = {}
        """LL4AL with ``module_scope: client``: each client's own loss module, kept across the rounds of a cycle."""

    @classmethod
    def for_cycle(cls, cfg: FLConfig, setup: CycleSetup) -> FedAvg:
        """The algorithm for one cycle of the training stage; an algorithm that needs more than the
        protocol (KCFU: the clients' unlabelled pools, its options) builds it from ``setup``."""
        return cls(cfg)

    def _keeps_client_modules(self) -> bool:
        return self.cfg.extension is not None and self.cfg.extension.keeps_client_modules

    # -- the client schedule (FairFAL: fresh per round; KAFAL: persistent within the cycle) -------
    def local_optimizer(
        self, model: nn.Module, k: int, lr: float
    ) -> tuple[torch.optim.Optimizer, Callable[[int], None] | None]:
        """(optimizer over ``model``'s parameters, before-epoch hook or None) for client ``k``'s local training."""
        cfg = self.cfg
        optimizer = sgd_optimizer(model, lr, cfg.momentum, cfg.weight_decay)
        if cfg.optimizer_scope == "cycle" and k in self.client_optimizers:
            optimizer.load_state_dict(self.client_optimizers[k])  # momentum buffers carry over (§7.2)
            for group in optimizer.param_groups:
                group["lr"] = lr
        if cfg.lr_schedule != "client_epoch":
            return optimizer, None
        done = self.client_epochs.get(k, 0)

        def before_epoch(epoch: int) -> None:
            for group in optimizer.param_groups:
                group["lr"] = client_epoch_lr(cfg, done + epoch + 1)

        return optimizer, before_epoch

    def start_client(self, model: nn.Module, k: int) -> None:
        """What client ``k`` brings to its local training besides the global weights: its own loss module
        (LL4AL, ``module_scope: client``) once it has trained one."""
        if self.cfg.extension is not None and self._keeps_client_modules() and k in self.client_modules:
            self.cfg.extension.client_module(model).load_state_dict(self.client_modules[k])

    def finish_client(self, k: int, optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
        """Record what crosses rounds after client ``k``'s local training."""
        if self.cfg.optimizer_scope == "cycle":
            self.client_optimizers[k] = copy.deepcopy(optimizer.state_dict())
        self.client_epochs[k] = self.client_epochs.get(k, 0) + self.cfg.local_epochs
        if self.cfg.extension is not None and self._keeps_client_modules():
            module = self.cfg.extension.client_module(model)
            self.client_modules[k] = {n: v.detach().clone() for n, v in module.state_dict().items()}

    def schedule_state(self) -> dict | None:
        """The client schedule's state for a round checkpoint (None when nothing crosses rounds)."""
        if not self.cfg.persistent and not self._keeps_client_modules():
            return None
        return {
            "optimizers": {int(k): v for k, v in self.client_optimizers.items()},
            "epochs": dict(self.client_epochs),
            "modules": {int(k): v for k, v in self.client_modules.items()},
        }

    def restore_schedule(self, blob: dict | None) -> None:
        if blob:
            self.client_optimizers = {int(k): v for k, v in blob["optimizers"].items()}
            self.client_epochs = {int(k): int(v) for k, v in blob["epochs"].items()}
            self.client_modules = {int(k): v for k, v in blob.get("modules", {}).items()}

    def labelled_loss(self, round_index: int, criterion: PerSampleLoss) -> LossFunction | None:
        """The batch loss on labelled data when a module trains with the model (LL4AL's joint loss over
        ``criterion``'s per-sample losses), else None (the update's own loss)."""
        if self.cfg.extension is None:
            return None
        return self.cfg.extension.labelled_loss(criterion, round_index, self.cfg.rounds)

    # -- per cycle -------------------------------------------------------------------------------
    def start_cycle(self, model: nn.Module, num_clients: int) -> None:
        """Called once per cycle before its rounds, from the cycle's initial model (also when resuming)."""

    def checkpoint_state(self) -> dict | None:
        """Algorithm state to save beside the global model in a round checkpoint."""
        return None

    def restore(self, blob: dict | None, device: Any) -> None:
        """Restore what ``checkpoint_state`` saved (called after ``start_cycle`` when resuming)."""

    # -- client side -----------------------------------------------------------------------------
    @property
    def proximal_mu(self) -> float:
        """μ of a ``(μ/2)·||w − w_global||²`` term added to every batch loss (0: none)."""
        return 0.0

    def step_corrections(self, selected: list[int]) -> dict[str, torch.Tensor] | None:
        """Per floating state key, a (len(selected), ...) stack subtracted, times lr, after every local step."""
        return None

    def client_update(
        self,
        model: nn.Module,
        k: int,
        client: Any,
        bank: ImageBank,
        *,
        round_index: int,
        lr: float,
        global_model: nn.Module,
        generator: torch.Generator,
        where: str,
        correction: dict[str, torch.Tensor] | None = None,
    ) -> float:
        """Train ``model`` (a copy of the global model) in place on client ``k``; return its loss."""
        self.start_client(model, k)
        optimizer, before_epoch = self.local_optimizer(model, k, lr)
        loss = train_client(
            model,
            client,
            bank,
            epochs=self.cfg.local_epochs,
            batch_size=self.cfg.batch_size,
            lr=lr,
            momentum=self.cfg.momentum,
            weight_decay=self.cfg.weight_decay,
            generator=generator,
            where=where,
            prox_mu=self.proximal_mu,
            scaffold_correction=correction,
            optimizer=optimizer,
            before_epoch=before_epoch,
            labelled_loss=self.labelled_loss(round_index, cross_entropy_per_sample),
            multi_label=self.cfg.multi_label,
        )
        self.finish_client(k, optimizer, model)
        return loss

    # -- server side -----------------------------------------------------------------------------
    def aggregate(
        self,
        global_start: dict[str, torch.Tensor],
        states: list[dict[str, torch.Tensor]],
        sizes: list[int],
        selected: list[int],
    ) -> dict[str, torch.Tensor]:
        """The next global state from the selected clients' final states (in the order of ``selected``)."""
        total = sum(sizes)
        return weighted_average(states, [n / total for n in sizes])

    def local_steps(self, sizes: list[int]) -> np.ndarray:
        return np.array([self.cfg.local_steps(n) for n in sizes])


def plain_fedavg(cfg: FLConfig) -> FedAvg:
    """FedAvg for a cycle that names no algorithm instance; another algorithm must be passed as one."""
    if cfg.algorithm != "fedavg":
        raise ValueError(f"pass the {cfg.algorithm} instance (its class's for_cycle) to train with it")
    return FedAvg(cfg)
