"""A job depends on exactly the code it runs: the fal modules each job script's code hash covers, against
the reviewed list in tests/fixtures/job_code.yaml; no planning-side module ever among them; extension
modules (methods, FL algorithms, dataset readers, paper modules, modules trained with the model,
multi-label code) only in the jobs that load them by name.

After a deliberate change of what a script imports: ``python tests/test_job_code.py --write`` rewrites the
list; review the diff (every module added there reruns every job of that script when it changes).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fal.code_hash import imported_modules  # noqa: E402
from fal.config.datasets import MULTI_LABEL_MODULES  # noqa: E402
from fal.plan.catalog import ALGORITHMS, FIGURES, METHODS, SOURCES, TABLES  # noqa: E402

REVIEWED = ROOT / "tests/fixtures/job_code.yaml"
SCRIPTS = sorted(p.stem for p in (ROOT / "workflow/scripts").glob("*.py"))
PLANNING_SIDE = ("fal.plan", "fal.code_hash", "fal.json_store")
"""Modules only the Snakefile (and docs, tests) import: study resolution, catalogs, params, captions,
schema, docs, damage scan, code hashes and their store."""


def script_modules(script: str, *by_name: str) -> list[str]:
    return imported_modules(ROOT, [f"workflow/scripts/{script}.py"], by_name)


def computed() -> dict[str, list[str]]:
    return {script: script_modules(script) for script in SCRIPTS}


def test_each_scripts_code_is_the_reviewed_list():
    listed = yaml.safe_load(REVIEWED.read_text())
    now = computed()
    for script, modules in now.items():
        print(f"{script} ({len(modules)}): {' '.join(modules)}")
    assert set(listed) == set(now), "scripts added or removed: run `python tests/test_job_code.py --write`"
    for script in SCRIPTS:
        added, dropped = set(now[script]) - set(listed[script]), set(listed[script]) - set(now[script])
        assert not added and not dropped, f"{script}: +{sorted(added)} -{sorted(dropped)} (review, then --write)"


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_planning_side_module_in_a_jobs_code(script):
    assert not [m for m in script_modules(script) if m.startswith(PLANNING_SIDE)]


def test_extensions_enter_only_the_jobs_that_load_them():
    train, query = set(script_modules("train")), set(script_modules("query"))
    extension_modules = {
        *(info.module for info in METHODS.values()),
        *(info.module for name, info in ALGORITHMS.items() if name != "fedavg"),  # FedAvg is every algorithm's base
        *(info.module for info in SOURCES.values()),
        *(info.module for info in TABLES.values()),
        *(info.module for info in FIGURES.values()),
        *(info.trains_with.partition(":")[0] for info in METHODS.values() if info.trains_with),
        *MULTI_LABEL_MODULES,
    }
    for script in SCRIPTS:
        assert not set(script_modules(script)) & extension_modules, script
    # a FedAvg training job holds neither KCFU's module nor LL4AL's loss prediction; a KCFU job holds KCFU's
    assert "fal.federated.algorithms.kcfu" not in train and "fal.federated.loss_prediction" not in train
    assert "fal.federated.algorithms.kcfu" in script_modules("train", ALGORITHMS["kcfu"].module)
    # a query job holds its own method's module, and no other method's (the ensembles reuse two they import)
    entropy = set(script_modules("query", METHODS["entropy"].module)) - query
    assert {m for m in entropy if m.startswith("fal.strategies.methods.")} == {"fal.strategies.methods.entropy"}
    fairfal = set(script_modules("query", METHODS["fairfal"].module)) - query
    assert not {m for m in fairfal if m.startswith("fal.strategies.methods.")} - {"fal.strategies.methods.fairfal"}


def test_multi_label_code_is_loaded_by_name_only():
    """The modules only multi-label data runs are imported nowhere: jobs load them by name
    (fal.registry.load_entry) and the code hash of multi-label jobs names them (params.smk)."""
    for path in sorted((ROOT / "fal").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            assert not set(names) & set(MULTI_LABEL_MODULES), f"{path} imports multi-label code"


def test_every_literal_entry_point_names_multi_label_code():
    """A literal ``load_entry("...")`` outside a declaration escapes the import scan: only the declared
    multi-label modules may be loaded that way (the workflow adds exactly those to multi-label jobs)."""
    for path in sorted((ROOT / "fal").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_entry" and node.args:
                argument = node.args[0]
                if isinstance(argument, ast.Constant):
                    assert argument.value.partition(":")[0] in MULTI_LABEL_MODULES, (path, argument.value)


if __name__ == "__main__" and "--write" in sys.argv:
    header = (
        "# The fal modules each job script's code hash covers (fal/code_hash.py), reviewed: a module listed\n"
        "# here reruns every job of that script when its behaviour changes. Extensions (a method, an FL\n"
        "# algorithm, a dataset reader, a paper module, multi-label code) are added per job, by name.\n"
        "# Rewrite after a reviewed change: python tests/test_job_code.py --write\n"
    )
    REVIEWED.write_text(header + yaml.safe_dump(computed(), sort_keys=True, width=100))
    print(f"wrote {REVIEWED}")
