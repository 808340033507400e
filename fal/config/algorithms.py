"""Every FL algorithm, one line each: the name a config uses, the class that implements it, where it is chosen.

This module imports no torch, so configuration validation (fal.config) and the docs check can read it
cheaply; ``fal.federated.algorithms.make_algorithm`` imports the class only when a trainer needs it.
Adding an algorithm = one module with a subclass of ``fal.federated.algorithms.fedavg.FedAvg`` + one
line here (CONTRIBUTING.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AlgorithmInfo:
    implementation: str
    """``module:Class``."""
    summary: str
    chosen_by: str
    """"protocol": ``protocol.fl_algorithm``; "strategy": a strategy's ``federated.algorithm`` (it brings
    its own client update and runs on FedAvg's aggregation under ``protocol.fl_algorithm: fedavg``)."""


ALGORITHMS: dict[str, AlgorithmInfo] = {
    "fedavg": AlgorithmInfo("fal.federated.algorithms.fedavg:FedAvg", "FedAvg (§4.1)", "protocol"),
    "fedprox": AlgorithmInfo("fal.federated.algorithms.fedprox:FedProx", "FedProx, proximal term μ (§4.2)", "protocol"),
    "scaffold": AlgorithmInfo(
        "fal.federated.algorithms.scaffold:Scaffold", "SCAFFOLD control variates (§4.3)", "protocol"
    ),
    "fednova": AlgorithmInfo("fal.federated.algorithms.fednova:FedNova", "FedNova normalised averaging", "protocol"),
    "kcfu": AlgorithmInfo("fal.federated.kcfu:KCFU", "KAFAL's KCFU client update (§7.1-§7.2)", "strategy"),
}

PROTOCOL_ALGORITHMS = tuple(name for name, info in ALGORITHMS.items() if info.chosen_by == "protocol")
"""The choices of ``protocol.fl_algorithm``."""


def choose_algorithm(protocol_algorithm: str, strategy_federated: dict[str, Any] | None) -> str:
    """The one place that decides which algorithm trains a cycle: a strategy's own update (KCFU) or the protocol's."""
    wanted = (strategy_federated or {}).get("algorithm", "fedavg")
    if wanted not in ALGORITHMS:
        raise ValueError(f"unknown federated algorithm {wanted!r}; available: {sorted(ALGORITHMS)}")
    if wanted == "fedavg":
        return protocol_algorithm
    if protocol_algorithm != "fedavg":
        raise ValueError(
            f"a strategy's {wanted} update runs on FedAvg aggregation, not {protocol_algorithm}; "
            f"set protocol.fl_algorithm: fedavg"
        )
    return wanted
