"""The FL algorithm registry: every algorithm declares itself in its own module, found here by reading.

A module of ``fal/federated/algorithms/`` holds a top-level ``ALGORITHM = AlgorithmInfo(...)`` beside its
class (a subclass of ``fal.federated.algorithms.fedavg.FedAvg``). This module finds the declarations by
parsing the files (``fal.config.declarations``) without importing them, so configuration validation
stays torch-free, the config's choices derive from the declarations, and adding an algorithm touches no
other code (nor any job's code hash: a training job hashes the module of the algorithm it runs).
``fal.federated.algorithms.make_algorithm`` imports the class only when a trainer needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fal.config.declarations import FAL_ROOT, module_name, modules_in, read_declarations

ALGORITHMS_DIR = FAL_ROOT / "federated" / "algorithms"


@dataclass(frozen=True)
class AlgorithmInfo:
    name: str
    """The name configs use (``protocol.fl_algorithm`` or a strategy's ``federated.algorithm``)."""
    cls: str
    """The class in the declaring module that implements it."""
    summary: str
    chosen_by: str
    """"protocol": ``protocol.fl_algorithm``; "strategy": a strategy's ``federated.algorithm`` (it brings
    its own client update and runs on FedAvg's aggregation under ``protocol.fl_algorithm: fedavg``)."""
    module: str = field(default="", compare=False)
    """The declaring module (filled in by discovery)."""

    @property
    def implementation(self) -> str:
        """``module:Class``."""
        return f"{self.module}:{self.cls}"


def discover_algorithms(directory: Path = ALGORITHMS_DIR) -> dict[str, AlgorithmInfo]:
    """Every algorithm declared in ``directory``'s modules, by name; FedAvg first (the default)."""
    found: dict[str, AlgorithmInfo] = {}
    for path in modules_in(directory):
        for declared in read_declarations(path, "ALGORITHM", {"AlgorithmInfo": AlgorithmInfo}):
            if declared.name in found:
                raise ValueError(f"FL algorithm {declared.name!r} is declared twice ({path})")
            if declared.chosen_by not in ("protocol", "strategy"):
                raise ValueError(f"{path}: chosen_by must be 'protocol' or 'strategy', got {declared.chosen_by!r}")
            found[declared.name] = replace(declared, module=module_name(path))
    if "fedavg" not in found:
        raise ValueError(f"no FedAvg declaration in {directory}")
    return {"fedavg": found.pop("fedavg"), **found}


ALGORITHMS: dict[str, AlgorithmInfo] = discover_algorithms()

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
