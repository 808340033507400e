"""SCAFFOLD (reference-spec §4.3): control variates correct each client's drift.

The control variates live for one cycle; every floating state entry of a client is shifted by
``lr·(c − c_k)`` after each local SGD step, and after the round the clients' ``c_k`` and the server's
``c`` are updated from how far each client moved. The quantities are kept per client in stacked
tensors so that either trainer can use and checkpoint them. Aggregation is FedAvg's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fal.config.algorithms import AlgorithmInfo
from fal.federated.algorithms.fedavg import FedAvg

ALGORITHM = AlgorithmInfo(
    "scaffold", entry="Scaffold", summary="SCAFFOLD control variates (§4.3)", chosen_by="protocol"
)


@dataclass
class ScaffoldState:
    """Control variates of one cycle: the server's ``c`` and every client's ``c_k``, per state key.

    The official code starts ``c`` and each ``c_k`` as copies of the cycle's initial global state (all
    floating entries, BN running statistics included). Only ``c − c_k`` enters a local step, so this equals
    zero initialisation while every client takes part; under partial participation it does not, and the
    official start is kept. Integer buffers (BN's batch counters) get no correction: the counter's
    correction is zero under full participation, and the counter has no effect with fixed BN momentum.
    """

    c: dict[str, torch.Tensor]
    clients: dict[str, torch.Tensor]
    """Per key, a (num_clients, ...) stack of the clients' ``c_k``."""

    @classmethod
    def initial(cls, global_state: dict[str, torch.Tensor], num_clients: int) -> ScaffoldState:
        floats = {k: v.detach().clone() for k, v in global_state.items() if v.is_floating_point()}
        stacks = {k: v.unsqueeze(0).repeat(num_clients, *([1] * v.dim())) for k, v in floats.items()}
        return cls(c=floats, clients=stacks)

    def corrections(self, clients: torch.Tensor | list[int]) -> dict[str, torch.Tensor]:
        """``c − c_k`` for the given clients, stacked (len(clients), ...)."""
        index = torch.as_tensor(clients, dtype=torch.long, device=next(iter(self.c.values())).device)
        return {k: self.c[k].unsqueeze(0) - self.clients[k].index_select(0, index) for k in self.c}

    def update(
        self,
        clients: list[int],
        global_start: dict[str, torch.Tensor],
        local_ends: dict[str, torch.Tensor],
        steps: torch.Tensor,
        base_lr: float,
    ) -> None:
        """End of round: new ``c_k`` for the clients that trained, then ``c += mean_k Δc_k``.

        ``local_ends[key]`` stacks the clients' final states in the order of ``clients``; ``steps`` their
        local step counts. ``c_k ← c_k − c + (w_global − w_local)/(steps · base_lr)``, with the base lr,
        not the decayed one, as in the official code.
        """
        device = next(iter(self.c.values())).device
        index = torch.as_tensor(clients, dtype=torch.long, device=device)
        steps = steps.to(device=device, dtype=torch.float32)
        for key in self.c:
            old = self.clients[key].index_select(0, index)
            shape = (-1,) + (1,) * (old.dim() - 1)
            drift = (global_start[key].unsqueeze(0) - local_ends[key].to(old.dtype)) / (steps.view(shape) * base_lr)
            new = old - self.c[key].unsqueeze(0) + drift
            self.clients[key].index_copy_(0, index, new)
            self.c[key] = self.c[key] + (new - old).sum(0) / len(clients)

    def to_blob(self) -> dict:
        return {
            "c": {k: v.detach().cpu() for k, v in self.c.items()},
            "clients": {k: v.detach().cpu() for k, v in self.clients.items()},
        }

    @classmethod
    def from_blob(cls, blob: dict, device: Any) -> ScaffoldState:
        return cls(
            c={k: v.to(device) for k, v in blob["c"].items()},
            clients={k: v.to(device) for k, v in blob["clients"].items()},
        )


class Scaffold(FedAvg):
    def start_cycle(self, model: nn.Module, num_clients: int) -> None:
        self.state = ScaffoldState.initial(model.state_dict(), num_clients)

    def checkpoint_state(self) -> dict | None:
        return {"scaffold": self.state.to_blob()}

    def restore(self, blob: dict | None, device: Any) -> None:
        if blob is None:
            raise ValueError("the round checkpoint holds no SCAFFOLD control variates")
        self.state = ScaffoldState.from_blob(blob["scaffold"], device)

    def step_corrections(self, selected: list[int]) -> dict[str, torch.Tensor]:
        return self.state.corrections(selected)

    def aggregate(
        self,
        global_start: dict[str, torch.Tensor],
        states: list[dict[str, torch.Tensor]],
        sizes: list[int],
        selected: list[int],
    ) -> dict[str, torch.Tensor]:
        steps = torch.tensor(self.local_steps(sizes))
        ends = {key: torch.stack([state[key] for state in states]) for key in self.state.c}
        self.state.update(selected, global_start, ends, steps, self.cfg.lr)
        return super().aggregate(global_start, states, sizes, selected)
