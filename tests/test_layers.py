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
    assert "fal.config.datasets" in GRAPH["fal.data.build"]
    assert "fal.plan.catalog" in GRAPH["fal.plan.strategies"]


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


CONFIG_LAYER = {m for m in MODULES if m == "fal.config" or m.startswith("fal.config.")} | {"fal.registry"}
"""The bottom layer: the typed configuration jobs compute with and the declaration types (torch-free)."""

PLAN = {m for m in MODULES if m == "fal.plan" or m.startswith("fal.plan.")}
"""The planning side: study resolution, catalogs, params, captions, schema and docs (no job imports it)."""

LEAVES = {
    "fal.seeding": set(),
    "fal.io": set(),
    "fal.formats": {"fal.io"},
    "fal.json_store": set(),
    "fal.code_hash": {"fal.json_store"},
    "fal.registry": set(),
    "fal.config": set(),
    "fal.config.base": set(),
    "fal.config.budgets": set(),
    "fal.config.algorithms": {"fal.registry"},
    "fal.config.datasets": {"fal.registry"},
    "fal.config.methods": {"fal.registry"},
    "fal.config.outputs": {"fal.registry"},
    "fal.config.fidelity": {"fal.config.base"},
    "fal.config.runtime": {"fal.config.base"},
    "fal.config.protocol": {"fal.config.base", "fal.config.budgets", "fal.registry"},
    "fal.config.setting": {"fal.config.protocol"},
    "fal.config.strategy": set(),
}


def test_leaf_modules_import_only_what_they_are_allowed():
    for module, allowed in LEAVES.items():
        found = GRAPH[module] - {"fal", "fal.config"}
        assert found <= allowed, f"{module} imports {sorted(found - allowed)}"


def test_configuration_is_the_bottom_layer():
    """fal.config imports nothing of the stage packages (data, federated, strategies, stats, plots) nor of
    the planning side: the planning side reads the stage packages' declarations from the source files."""
    reached, todo = set(), [m for m in CONFIG_LAYER]
    while todo:
        module = todo.pop()
        for dep in GRAPH[module] - reached:
            reached.add(dep)
            todo.append(dep)
    assert reached <= CONFIG_LAYER | {"fal"}, sorted(reached - CONFIG_LAYER)


def test_the_planning_side_is_torch_free_and_imported_by_no_library_module():
    """fal.plan reads the declarations without importing a stage package, and nothing outside it imports it
    (a job imports the library, never study resolution, catalogs, params, captions or docs)."""
    for module in PLAN:
        stage_imports = {
            m
            for m in GRAPH[module]
            if m.startswith(("fal.data", "fal.federated", "fal.strategies", "fal.stats", "fal.plots"))
        }
        assert not stage_imports, (module, sorted(stage_imports))
    for module in set(MODULES) - PLAN:
        assert not GRAPH[module] & PLAN, (module, sorted(GRAPH[module] & PLAN))


def test_stage_packages_do_not_import_the_workflow_helpers():
    """Only workflow scripts set up jobs (fal.job) and hash code (fal.code_hash)."""
    for module in MODULES:
        if module.startswith(("fal.data", "fal.federated", "fal.strategies", "fal.stats", "fal.plots")):
            assert not GRAPH[module] & {"fal.job", "fal.code_hash"}, module


def test_library_never_imports_snakemake():
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "snakemake" for n in names), f"{module} imports snakemake"
