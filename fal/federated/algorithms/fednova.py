"""FedNova (Wang et al., NeurIPS 2020, "Tackling the objective inconsistency problem in heterogeneous
federated optimization"): normalised averaging for clients that take different numbers of local steps.

Clients train as in FedAvg. With τ_k local SGD steps at momentum ρ, client k's update is divided by
‖a_k‖₁ = [τ_k − ρ(1 − ρ^τ_k)/(1 − ρ)]/(1 − ρ) (= τ_k without momentum), and the server steps by the
effective τ_eff = Σ_k p_k ‖a_k‖₁ along the weighted mean of the normalised updates, p_k = n_k / n:

    w ← w − τ_eff · Σ_k p_k (w − w_k) / ‖a_k‖₁

Trainable parameters only; BN buffers are averaged as in FedAvg. With equal client sizes every
‖a_k‖₁ is equal and FedNova is FedAvg.
"""

from __future__ import annotations

import torch
from torch import nn

from fal.config.algorithms import AlgorithmInfo
from fal.federated.algorithms.fedavg import FedAvg

ALGORITHM = AlgorithmInfo("fednova", entry="FedNova", summary="FedNova normalised averaging", chosen_by="protocol")


def momentum_norm(steps: int, momentum: float) -> float:
    """‖a‖₁ of ``steps`` SGD steps with heavy-ball momentum ρ (FedNova's normalising constant)."""
    if momentum == 0:
        return float(steps)
    return (steps - momentum * (1 - momentum**steps) / (1 - momentum)) / (1 - momentum)


class FedNova(FedAvg):
    def start_cycle(self, model: nn.Module, num_clients: int) -> None:
        self.parameter_keys = {name for name, _ in model.named_parameters()}

    def aggregate(
        self,
        global_start: dict[str, torch.Tensor],
        states: list[dict[str, torch.Tensor]],
        sizes: list[int],
        selected: list[int],
    ) -> dict[str, torch.Tensor]:
        averaged = super().aggregate(global_start, states, sizes, selected)
        total = sum(sizes)
        weights = [n / total for n in sizes]
        norms = [momentum_norm(int(t), self.cfg.momentum) for t in self.local_steps(sizes)]
        tau_eff = sum(w * a for w, a in zip(weights, norms))
        for key in self.parameter_keys:
            start = global_start[key].to(torch.float64)
            direction = sum(
                w * (start - state[key].to(torch.float64)) / a for state, w, a in zip(states, weights, norms)
            )
            averaged[key] = (start - tau_eff * direction).to(global_start[key].dtype)
        return averaged
