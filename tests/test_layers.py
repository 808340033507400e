"""The library's import graph, read from the source: no cycles, leaves stay leaves, no Snakemake.

Every ``import fal…`` counts, also those inside functions (a lazy import is still a dependency), and
importing ``fal.a.b`` also imports the package ``fal.a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

FAL = Path(__file__).resolve().parents[1] / "fal"


def module_name(path: Path) -> str:
    parts = path.relative_to(FAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(FAL.rglob("*.py"))}


def _resolve(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """The fal modules ``module`` imports, with the packages that importing them loads."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found |= {_resolve(a.name) for a in node.names if a.name.split(".")[0] == "fal"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fal":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else _resolve(node.module))
    for name in list(found):
        parts = name.split(".")
        found |= {".".join(parts[:i]) for i in range(1, len(parts))}
    # a submodule's own parent packages are already loaded when it runs
    return {m for m in found if m != module and not module.startswith(m + ".")}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_graph_sees_real_imports():
    assert "fal.data.datasets" in GRAPH["fal.data.build"]
    assert "fal.strategies.registry" in GRAPH["fal.strategies.stage"]


def test_no_import_cycle_inside_fal():
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(GRAPH[module]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


CATALOGS = {
    "fal.data",
    "fal.data.datasets",
    "fal.data.budgets",
    "fal.data.longtail",
    "fal.strategies",
    "fal.strategies.registry",
    "fal.federated",
    "fal.federated.algorithms",
    "fal.federated.algorithms.registry",
}
"""Torch-free declarations (datasets, budgets, methods, FL algorithms) that configuration may read."""

LEAVES = {
    "fal.seeding": set(),
    "fal.io": set(),
    "fal.schemas": {"fal.io"},
    "fal.data.datasets": {"fal.data"},
    "fal.data.budgets": {"fal.data"},
    "fal.strategies.registry": {"fal.strategies"},
    "fal.federated.algorithms.registry": {"fal.federated", "fal.federated.algorithms"},
    "fal.stats.catalog": {"fal.data", "fal.data.datasets", "fal.stats"},
    # leaf config modules: the shared checks, each other's leaves and the catalogs; never study resolution
    "fal.config.base": {"fal.config"},
    "fal.config.protocol": {"fal.config", "fal.config.base"} | CATALOGS,
    "fal.config.fidelity": {"fal.config", "fal.config.base"},
    "fal.config.runtime": {"fal.config", "fal.config.base"},
    "fal.config.setting": {"fal.config", "fal.config.base", "fal.config.protocol"} | CATALOGS,
    "fal.config.strategy": {"fal.config", "fal.config.base"} | CATALOGS,
}


def test_leaf_modules_import_only_what_they_are_allowed():
    for module, allowed in LEAVES.items():
        assert GRAPH[module] <= allowed | {"fal"}, f"{module} imports {sorted(GRAPH[module] - allowed - {'fal'})}"


def test_configuration_imports_no_stage_code():
    """fal.config (the Snakefile reads it at parse time) reaches only configuration and catalogs: no
    torch-using stage module (data building, training, strategies, statistics)."""
    reached, todo = set(), ["fal.config"]
    while todo:
        module = todo.pop()
        for dep in GRAPH[module] - reached:
            reached.add(dep)
            todo.append(dep)
    allowed = {m for m in MODULES if m.startswith("fal.config")} | CATALOGS | {"fal", "fal.stats", "fal.stats.catalog"}
    assert reached <= allowed, sorted(reached - allowed)


def test_library_never_imports_snakemake():
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "snakemake" for n in names), f"{module} imports snakemake"
