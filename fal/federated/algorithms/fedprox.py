"""FedProx (reference-spec §4.2): FedAvg plus ``(μ/2)·Σ_params ||w − w_global||²`` in every batch loss.

Trainable parameters only (not buffers); the logged loss includes the term. μ is ``protocol.fedprox_mu``
(the official default 0.01; the paper does not state it).
"""

from __future__ import annotations

from fal.config.algorithms import AlgorithmInfo
from fal.federated.algorithms.fedavg import FedAvg

ALGORITHM = AlgorithmInfo("fedprox", entry="FedProx", summary="FedProx, proximal term μ (§4.2)", chosen_by="protocol")


class FedProx(FedAvg):
    @property
    def proximal_mu(self) -> float:
        return self.cfg.fedprox_mu
