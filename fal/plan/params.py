"""Each job's params: exactly what its stage computes with, resolved, so that the job needs no catalog
and Snakemake reruns it exactly when one of them changes.

Of the protocol and the fidelity switches, a job gets the keys its stage reads (declared once, per key,
in ``fal.config.protocol`` and ``fal.config.fidelity``): a partition does not rerun when the schedule
after cycle 1 changes, a training cycle not when the query budget does, nothing when a later cycle is
added. Switches and keys that only some methods or FL algorithms read (FairFAL's, KCFU's) reach only
the jobs that run them (``Declaration.reads``). Declarations a job computes with (its dataset, its
method, its FL algorithm with its options) come resolved, with their entry points: a job imports the
modules they name and nothing else. The job scripts rebuild their configuration from these params
(``from_params``); the sweep test (tests/workflow/test_config_reruns.py) checks that every output a
change affects is scheduled, and nothing else.
"""

from __future__ import annotations

from typing import Any

from fal.config.datasets import MULTI_LABEL_MODULES
from fal.plan.catalog import ALGORITHMS, DATASETS, METHODS, SOURCES, choose_algorithm
from fal.plan.study import Study

INIT_ARM = "init"
"""Cycle 1's shared arm: trained once per (setting, seed) with the protocol's algorithm."""


def dataset_params(study: Study, setting_id: str) -> dict[str, Any]:
    """The dataset declaration a setting's jobs compute with (its display name left out)."""
    return DATASETS[study.setting(setting_id).dataset].to_params()


def source_params(source: str) -> dict[str, Any]:
    """A prepare job's source declaration (its checksums are what the data must match; where the files are
    read from is not a param)."""
    return SOURCES[source].to_params()


def partition_params(study: Study, setting_id: str) -> dict[str, Any]:
    """What a partition computes with: the initial budget and the partition's fidelity switches."""
    protocol = study.protocol_of(setting_id)
    return {
        "protocol": protocol.read_by("partition"),
        "fidelity": study.fidelity.read_by("partition", cycle=1),
    }


def arm_update(study: Study, arm: str) -> str:
    """The update a strategy brings itself (KCFU), or fedavg: the protocol's algorithm ("init" included)."""
    return "fedavg" if arm == INIT_ARM else study.strategy(arm).update


def arm_algorithm(study: Study, setting_id: str, arm: str) -> str:
    """The FL algorithm that trains an arm: the protocol's, or the strategy's own update (KCFU)."""
    return choose_algorithm(study.protocol_of(setting_id).fl_algorithm, arm_update(study, arm))


def train_params(study: Study, setting_id: str, arm: str, cycle: int) -> dict[str, Any]:
    """What one training cycle computes with: the schedule, its fidelity switches, the FL algorithm
    (entry point and resolved options) and the module a strategy trains with the model (LL4AL's)."""
    protocol = study.protocol_of(setting_id)
    name = arm_algorithm(study, setting_id, arm)
    info = ALGORITHMS[name]
    multi_label = DATASETS[study.setting(setting_id).dataset].multi_label
    options = (
        study.strategy(arm).update_options(multi_label) if arm != INIT_ARM and name == arm_update(study, arm) else {}
    )
    algorithm = {"name": name, "entry": info.entry_point, "options": options}
    out: dict[str, Any] = {
        "protocol": protocol.read_by("train", algorithm=name),
        "fidelity": study.fidelity.read_by("train", cycle, info.reads),
        "algorithm": algorithm,
    }
    trains_with = None if arm == INIT_ARM else study.strategy(arm).trains_with(multi_label)
    if trains_with is not None:
        out["trains_with"] = trains_with
    return out


def query_params(study: Study, setting_id: str, strategy: str, cycle: int) -> dict[str, Any]:
    """What one query computes with: the budget, the query models' training, the strategy resolved and
    the fidelity switches its method reads (``cycle``: the cycle whose labelled set the query makes)."""
    entry = study.strategy(strategy)
    multi_label = DATASETS[study.setting(setting_id).dataset].multi_label
    return {
        "protocol": study.protocol_of(setting_id).read_by("query"),
        "fidelity": study.fidelity.read_by("query", cycle, METHODS[entry.method].reads),
        "strategy": entry.query_strategy(multi_label).to_params(),
    }


def metrics_params(study: Study, setting_id: str, strategy: str) -> dict[str, Any]:
    """What a run's metrics record: the cycles' nominal ratios, the budget rule, the strategy's method."""
    return {
        "protocol": study.protocol_of(setting_id).read_by("metrics"),
        "strategy": study.strategy(strategy).metrics_params(),
    }


def module_of(entry_point: str) -> str:
    return entry_point.partition(":")[0]


def multi_label_modules(study: Study, setting_id: str) -> tuple[str, ...]:
    """The multi-label code a job of a multi-label setting loads by name (fal.config.datasets)."""
    return MULTI_LABEL_MODULES if DATASETS[study.setting(setting_id).dataset].multi_label else ()


def train_modules(study: Study, setting_id: str, arm: str, cycle: int) -> list[str]:
    """The modules a training job loads by name: its FL algorithm's, the one a strategy trains with the
    model (LL4AL's) and multi-label code, each only where loaded (its code hash covers them)."""
    config = train_params(study, setting_id, arm, cycle)
    modules = [module_of(config["algorithm"]["entry"]), *multi_label_modules(study, setting_id)]
    if "trains_with" in config:
        modules.append(module_of(config["trains_with"]["entry"]))
    return modules


def query_modules(study: Study, setting_id: str, strategy: str, cycle: int) -> list[str]:
    """The modules a query job loads by name: its method's, the one it trains with the model and
    multi-label code (editing one method reruns only its own queries)."""
    resolved = query_params(study, setting_id, strategy, cycle)["strategy"]
    modules = [module_of(resolved["entry"]), *multi_label_modules(study, setting_id)]
    if resolved.get("trains_with"):
        modules.append(module_of(resolved["trains_with"]))
    return modules
