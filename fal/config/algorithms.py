"""What an FL algorithm declares (``ALGORITHM = AlgorithmInfo(...)`` in its module of ``fal/federated/algorithms/``).

The planning side reads the declarations without importing the modules (``fal.plan.catalog.ALGORITHMS``);
a training job gets its algorithm's entry point and resolved options in its params and imports only
that module.
"""

from __future__ import annotations

from dataclasses import dataclass

from fal.registry import Declaration, Option

__all__ = ["AlgorithmInfo", "Option"]


@dataclass(frozen=True)
class AlgorithmInfo(Declaration):
    """An FL algorithm; its entry point is a subclass of ``fal.federated.algorithms.fedavg.FedAvg``."""

    summary: str = ""
    chosen_by: str = "protocol"
    """"protocol": ``protocol.fl_algorithm``; "strategy": a strategy's ``federated.algorithm`` (it brings
    its own client update and runs on FedAvg's aggregation under ``protocol.fl_algorithm: fedavg``)."""
