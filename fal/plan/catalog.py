"""Every declared extension, read from the source files without importing them: one loader for the
four kinds (query methods, FL algorithms, dataset sources with their dataset keys, paper tables and
figures).

A declaration is a top-level assignment of literals and declaration types in an extension's module
(``fal.registry``); ``Registry`` parses the module files of its folders, evaluates those assignments with
nothing but the declaration types in scope, fills in each declaration's module and checks that names are
unique. Reading instead of importing keeps the planning side torch-free and fast, and adding, removing or
editing one module touches no other module's code, nor any other job's code hash.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from fal.config.algorithms import AlgorithmInfo
from fal.config.base import ConfigError
from fal.config.datasets import DatasetSpec, SourceSpec
from fal.config.methods import MethodInfo
from fal.config.outputs import PaperFigure, PaperTable
from fal.registry import Declaration, Option

FAL_ROOT = Path(__file__).resolve().parents[1]
"""The ``fal`` package folder."""

D = TypeVar("D")

DECLARATION_TYPES: dict[str, Any] = {
    cls.__name__: cls for cls in (Option, MethodInfo, AlgorithmInfo, SourceSpec, DatasetSpec, PaperTable, PaperFigure)
}
"""What a declaration may use besides literals."""


def module_name(path: Path) -> str:
    """Dotted module name of a file inside ``fal``."""
    return ".".join(path.resolve().relative_to(FAL_ROOT.parent).with_suffix("").parts)


def modules_in(directory: Path) -> list[Path]:
    """The module files of a declarations folder, in name order (``__init__`` and private modules left out)."""
    return [p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")]


def read_declarations(path: Path, variable: str) -> list[Any]:
    """The values assigned to ``variable`` at the top level of ``path`` (a tuple is flattened), evaluated
    with nothing but the declaration types in scope."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Any] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            namespace = {**DECLARATION_TYPES, "__builtins__": {}}
            try:
                value = eval(compile(ast.Expression(node.value), str(path), "eval"), namespace)
            except NameError as exc:
                allowed = ", ".join(sorted(DECLARATION_TYPES))
                raise ValueError(
                    f"{path}:{node.lineno}: {variable} may use only literals and {allowed} ({exc})"
                ) from None
            found.extend(value if isinstance(value, tuple) else (value,))
    return found


class Registry(Mapping[str, D], Generic[D]):
    """The declarations of one kind (``kind``, assigned to ``variable``) in the modules of ``folders``, by
    name, in module and declaration order; read once, on first use."""

    def __init__(self, kind: type[D], variable: str, *folders: Path, noun: str | None = None) -> None:
        self.kind = kind
        self.variable = variable
        self.folders = folders
        self.noun = noun or kind.__name__
        self._found: dict[str, D] | None = None

    def _declared(self) -> dict[str, D]:
        if self._found is None:
            found: dict[str, D] = {}
            for folder in self.folders:
                for path in modules_in(folder):
                    for declared in read_declarations(path, self.variable):
                        if not isinstance(declared, self.kind):
                            continue
                        name = _name_of(declared)
                        if name in found:
                            raise ValueError(f"{self.noun} {name!r} is declared twice ({path})")
                        if isinstance(declared, Declaration):
                            declared = dataclasses.replace(declared, module=module_name(path))
                        found[name] = declared
            self._found = found
        return self._found

    def __getitem__(self, name: str) -> D:
        return self._declared()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared())

    def __len__(self) -> int:
        return len(self._declared())

    def get_or_explain(self, name: str, where: str) -> D:
        """The declaration of ``name``, or a ConfigError at ``where`` naming close matches and the choices."""
        if name not in self:
            close = difflib.get_close_matches(str(name), list(self), n=2)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise ConfigError(f"{where}: unknown {self.noun} {name!r}{hint}; available: {sorted(self)}")
        return self[name]


def _name_of(declared: Any) -> str:
    return str(declared.key if isinstance(declared, DatasetSpec) else declared.name)


METHODS: Registry[MethodInfo] = Registry(MethodInfo, "METHOD", FAL_ROOT / "strategies" / "methods", noun="method")
ALGORITHMS: Registry[AlgorithmInfo] = Registry(
    AlgorithmInfo, "ALGORITHM", FAL_ROOT / "federated" / "algorithms", noun="FL algorithm"
)
SOURCES: Registry[SourceSpec] = Registry(SourceSpec, "SOURCES", FAL_ROOT / "data" / "sources", noun="dataset source")
DATASETS: Registry[DatasetSpec] = Registry(DatasetSpec, "DATASETS", FAL_ROOT / "data" / "sources", noun="dataset")
TABLES: Registry[PaperTable] = Registry(PaperTable, "OUTPUTS", FAL_ROOT / "stats" / "papers", noun="table")
FIGURES: Registry[PaperFigure] = Registry(PaperFigure, "OUTPUTS", FAL_ROOT / "plots" / "papers", noun="figure")


def protocol_algorithms() -> tuple[str, ...]:
    """The choices of ``protocol.fl_algorithm``: FedAvg first (the default), then the others by module."""
    names = [name for name, info in ALGORITHMS.items() if info.chosen_by == "protocol"]
    return tuple(sorted(names, key=lambda name: name != "fedavg"))


def strategy_updates() -> tuple[str, ...]:
    """The choices of a strategy's ``federated.algorithm``: FedAvg, or an update a strategy brings itself."""
    return ("fedavg", *(name for name, info in ALGORITHMS.items() if info.chosen_by == "strategy"))


def choose_algorithm(protocol_algorithm: str, strategy_update: str = "fedavg") -> str:
    """The one place that decides which algorithm trains a cycle: a strategy's own update (KCFU) or the protocol's."""
    ALGORITHMS.get_or_explain(strategy_update, "federated.algorithm")
    if strategy_update == "fedavg":
        return protocol_algorithm
    if protocol_algorithm != "fedavg":
        raise ValueError(
            f"a strategy's {strategy_update} update runs on FedAvg aggregation, not {protocol_algorithm}; "
            f"set protocol.fl_algorithm: fedavg"
        )
    return strategy_update


def dataset_labels() -> dict[str, str]:
    """Display names of the dataset keys (tables, figures and captions use these)."""
    return {key: spec.label for key, spec in DATASETS.items()}


def check_catalog() -> None:
    """Consistency the declarations must have among themselves (read on every Snakefile parse)."""
    if "fedavg" not in ALGORITHMS:
        raise ValueError("no FedAvg declaration in fal/federated/algorithms/")
    for name, source in SOURCES.items():
        if not (source.array_sha256 or source.raw_md5 or source.no_checksums):
            raise ValueError(
                f"{source.module}: source {name!r} declares no checksums (array_sha256 or raw_md5) "
                "and no reason why not (no_checksums)"
            )
    for spec in DATASETS.values():
        if spec.source not in SOURCES:
            raise ValueError(f"dataset {spec.key!r} names an undeclared source {spec.source!r}")
        source = SOURCES[spec.source]
        if spec.multi_label:
            if source.train_counts or len(source.sizes) != 2 or spec.long_tailed:
                raise ValueError(
                    f"multi-label dataset {spec.key!r}: its source {spec.source!r} declares sizes=(train, test) "
                    "and no class counts, and it cannot be long-tailed"
                )
        elif len(source.train_counts) != spec.num_classes:
            raise ValueError(
                f"dataset {spec.key!r} has {spec.num_classes} classes, its source {spec.source!r} another count"
            )
    for name, info in ALGORITHMS.items():
        if info.chosen_by not in ("protocol", "strategy"):
            raise ValueError(f"{info.module}: chosen_by must be 'protocol' or 'strategy', got {info.chosen_by!r}")
        if not info.entry:
            raise ValueError(f"{info.module}: FL algorithm {name!r} names no entry (its class)")


def dataset_spec(key: str) -> DatasetSpec:
    """The declaration of dataset ``key`` (a ConfigError with close matches when there is none)."""
    return DATASETS.get_or_explain(key, "dataset")
