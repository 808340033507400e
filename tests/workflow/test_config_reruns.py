"""Configuration changes rerun exactly what they change (issue: exact reruns for configuration changes).

On a finished copy of the sweep study (.test/config/sweep.yaml), each change of what users change (every
protocol key, every fidelity switch, a strategy option, one cycle more or fewer, a seed, a strategy, a
dataset, an α) is run as a user runs it, with the project's default profile, and compared byte for byte
with the same configuration run from scratch:

- no under-trigger: every output of the changed study equals the from-scratch one (a stale file that
  should have been recomputed would differ);
- no over-trigger: every job the change schedules writes at least one output that differs from before,
  unless the job is listed in the change's ``expected_same`` with the reason.

CI runs the changes marked ``ci`` (one cycle more, an option written at its default); ``make test-sweep``
runs them all (``FAL_SWEEP=all``) and prints the
over- and under-trigger counts per change.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import copy_project, dry_run_jobs, same_result, snakemake, tiny_study_config

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig

pytestmark = pytest.mark.workflow

PROFILE = "profiles/default"
STUDY = "sweep"
SWEEP_ALL = os.environ.get("FAL_SWEEP") == "all"


@dataclasses.dataclass(frozen=True)
class Change:
    """One edit of the sweep study's configuration."""

    apply: Callable[[dict], None]
    ci: bool = False
    expected_same: tuple[str, ...] = ()
    """Rules whose scheduled jobs may rewrite byte-identical outputs, each with its reason in ``why``."""
    why: str = ""


def study(config: dict) -> dict:
    return config["studies"][STUDY]


def protocol(key: str, value) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        study(config)["protocol"][key] = value

    return apply


def fidelity(key: str, value) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        study(config).setdefault("fidelity", {})[key] = value

    return apply


def add(key: str, value) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        study(config)[key] = [*study(config)[key], value]

    return apply


def fairfal_option(key: str, value) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        config["strategies"]["fairfal"] = {"method": "fairfal", "options": {key: value}}

    return apply


PROTOCOL_CHANGES: dict[str, Change] = {
    "client_fraction": Change(protocol("client_fraction", 0.67)),
    "rounds": Change(protocol("rounds", 2)),
    "local_epochs": Change(protocol("local_epochs", 2)),
    "batch_size": Change(protocol("batch_size", 8)),
    "lr": Change(protocol("lr", 0.02)),
    "momentum": Change(protocol("momentum", 0.5)),
    "weight_decay": Change(protocol("weight_decay", 1e-3)),
    "lr_decay": Change(protocol("lr_decay", 0.5)),
    "lr_decay_at": Change(protocol("lr_decay_at", 0.75)),
    "initial_ratio": Change(protocol("initial_ratio", 0.25)),
    "query_ratio": Change(protocol("query_ratio", 0.15)),
    "end_ratio": Change(protocol("end_ratio", 0.8), ci=True),  # one cycle more
    "model": Change(protocol("model", "kafal_resnet8")),
    "fl_algorithm": Change(protocol("fl_algorithm", "fedprox")),
    "fedprox_mu": Change(protocol("fedprox_mu", 0.5)),  # read by FedProx only: nothing to rerun
    "local_model": Change(protocol("local_model", {"epochs": 3, "lr_milestone": 1, "stop_train_acc": 1.0})),
    "schedule": Change(protocol("schedule", "kafal")),
    "optimizer_scope": Change(protocol("optimizer_scope", "cycle")),
    "lr_schedule": Change(protocol("lr_schedule", "client_epoch")),
    "lr_milestones": Change(protocol("lr_milestones", [1])),  # read under lr_schedule client_epoch only
    "last_round_all_clients": Change(protocol("last_round_all_clients", True)),  # every client trains already
    "transform": Change(protocol("transform", "kafal")),
    "budget_rule": Change(protocol("budget_rule", "per_client")),
    "num_clients": Change(lambda c: (protocol("num_clients", 4)(c), study(c).update(num_clients=4))),
}

FIDELITY_CHANGES: dict[str, Change] = {
    "preset": Change(fidelity("preset", "corrected")),
    "lt_query_view_mismatch": Change(fidelity("lt_query_view_mismatch", False)),
    "partition_seed": Change(fidelity("partition_seed", "run")),
    "shared_cycle1_init": Change(fidelity("shared_cycle1_init", False)),
    "fl_lr_decay": Change(fidelity("fl_lr_decay", "paper")),
    "local_lr_milestone_unit": Change(fidelity("local_lr_milestone_unit", "epoch")),
    "fairfal_m2_model": Change(fidelity("fairfal_m2_model", "paper")),
    "fairfal_prototype_similarity": Change(
        fidelity("fairfal_prototype_similarity", "inner"),
        expected_same=("accuracy_table", "accuracy_figure"),
        why="the similarity changes FairFAL's recorded query diagnostics (metrics.parquet) but, on this tiny "
        "study, not its accuracies, all the table and figure show",
    ),
    "fairfal_gamma_bar": Change(
        fidelity("fairfal_gamma_bar", "every_query"),
        expected_same=("accuracy_table", "accuracy_figure"),
        why="the second query's γ̄ changes FairFAL's recorded γ̄ but not its accuracies, all the table and figure show",
    ),
    "pool_order": Change(fidelity("pool_order", "ascending")),
    "kcfu_teacher_bn": Change(fidelity("kcfu_teacher_bn", "eval")),  # no KCFU arm: nothing to rerun
    "kcfu_distillation_pool": Change(fidelity("kcfu_distillation_pool", "current")),
}

OTHER_CHANGES: dict[str, Change] = {
    "one cycle fewer": Change(protocol("end_ratio", 0.4)),
    "fairfal delta at its default, written out": Change(fairfal_option("delta", 0.75), ci=True),
    "fairfal delta": Change(fairfal_option("delta", 0.5)),
    "a seed added": Change(add("seeds", 2)),
    "a strategy added": Change(add("strategies", "entropy_g")),
    "a dataset added": Change(add("datasets", "fmnist")),
    "an alpha added": Change(add("alpha", 0.1)),
    "a table added": Change(add("tables", "table5_6")),
}

ALWAYS_EXPLAINED: dict[str, tuple[Callable[[dict], bool], str]] = {
    "random query": (
        lambda job: job["rule"] == "query" and ("strategy", "random") in job["wildcards"],
        "Random uses neither the model nor the local models its query is given: its picks cannot change",
    ),
    "provenance copy": (
        lambda job: job["rule"] == "publish_report" and job["output"][0].endswith("provenance.json"),
        "the table's environment file, rewritten with the table, names the same machine",
    ),
}
"""Jobs any change may rerun with unchanged outputs, and why."""


CASCADE = "its inputs were rewritten byte for byte; Snakemake reruns what follows a rerun job"


def explanation(job: dict, change: Change, unchanged: Callable[[str], bool]) -> str | None:
    """Why a job whose outputs did not change was scheduled, if that is explained."""
    if job["rule"] in change.expected_same:
        return change.why
    reasons = [r.split(":", 1)[0].strip() for r in job["reason"].removeprefix("reason:").split(";")]
    if reasons == ["Input files updated by another job"] and all(unchanged(i) for i in job["input"]):
        return CASCADE  # not its own params or inputs: an upstream job rewrote them identically
    return next((why for test, why in ALWAYS_EXPLAINED.values() if test(job)), None)


CHANGES = {
    **{f"protocol.{k}": v for k, v in PROTOCOL_CHANGES.items()},
    **{f"fidelity.{k}": v for k, v in FIDELITY_CHANGES.items()},
    **OTHER_CHANGES,
}


def test_the_sweep_covers_every_protocol_key_and_fidelity_switch():
    assert set(PROTOCOL_CHANGES) == {f.name for f in dataclasses.fields(ProtocolConfig)}
    assert set(FIDELITY_CHANGES) == {f.name for f in dataclasses.fields(FidelityConfig)}


def result_files(project: Path) -> dict[str, Path]:
    """Every result and report file of the study by relative path (not logs, benchmarks, digests)."""
    files = {}
    for path in (project / "results").rglob("*"):
        rel = path.relative_to(project).as_posix()
        if (
            path.is_file()
            and "/logs/" not in rel
            and "/benchmarks/" not in rel
            and "/.quarantine/" not in rel
            and not rel.endswith(".digest.json")
        ):
            files[rel] = path
    return files


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_cache):
    project = copy_project(tmp_path_factory.mktemp("sweep"), tiny_study_config(STUDY, data_cache))
    snakemake(project, "all", profile=PROFILE)
    assert dry_run_jobs(project, profile=PROFILE) == []
    return project


def selected() -> list:
    return [
        pytest.param(name, marks=() if change.ci or SWEEP_ALL else pytest.mark.skip("make test-sweep runs it"))
        for name, change in CHANGES.items()
    ]


@pytest.mark.parametrize("name", selected())
def test_a_change_reruns_exactly_what_it_changes(name, finished, tmp_path):
    change = CHANGES[name]
    config = yaml.safe_load((finished / "config.yaml").read_text())
    change.apply(config)

    changed = tmp_path / "changed"
    shutil.copytree(finished, changed, symlinks=True)
    (changed / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = {rel: path.read_bytes() for rel, path in result_files(changed).items()}
    jobs = [job for job in dry_run_jobs(changed, profile=PROFILE) if job["rule"] != "all"]
    snakemake(changed, "all", profile=PROFILE)
    after = result_files(changed)

    (tmp_path / "scratch").mkdir()
    scratch = copy_project(tmp_path / "scratch", config)
    snakemake(scratch, "all", profile=PROFILE)
    truth = result_files(scratch)

    # Under-trigger: an output of the changed study that differs from its from-scratch value.
    under = sorted(rel for rel, path in truth.items() if rel not in after or not same_result(after[rel], path))
    # Over-trigger: a scheduled job all of whose outputs existed and are unchanged.
    over = []
    for job in jobs:
        outputs = [out for out in job["output"] if out in before]
        if len(outputs) == len(job["output"]) and all(same_result(after[out], before[out]) for out in outputs):
            over.append(job)

    def unchanged(path: str) -> bool:  # an input outside the results (the data cache) is never rewritten
        return path not in before or (path in after and same_result(after[path], before[path]))

    why = {id(job): explanation(job, change, unchanged) for job in over}
    unexplained = [job for job in over if why[id(job)] is None]
    reasons = sorted({f"{job['rule']}: {why[id(job)]}" for job in over if why[id(job)] is not None})
    print(
        f"\nSWEEP {name}: {len(jobs)} jobs scheduled, over-trigger {len(over)} "
        f"({len(unexplained)} unexplained{'; ' if reasons else ''}{'; '.join(reasons)}), under-trigger {len(under)}"
    )
    assert under == [], f"{name}: stale outputs {under[:5]}"
    assert unexplained == [], f"{name}: jobs rerun for nothing {[(j['rule'], j['wildcards']) for j in unexplained][:5]}"


def _planned_after(finished: Path, tmp_path: Path, edit: Callable[[dict], None]) -> list[dict]:
    config = yaml.safe_load((finished / "config.yaml").read_text())
    edit(config)
    changed = tmp_path / "changed"
    shutil.copytree(finished, changed, symlinks=True)
    (changed / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return [job for job in dry_run_jobs(changed, profile=PROFILE) if job["rule"] != "all"]


def _label(config: dict) -> None:
    config["strategies"]["fairfal"] = {"method": "fairfal", "label": "FairFAL (ours)"}


def _fedprox_mu_under_fedavg(config: dict) -> None:
    study(config)["protocol"]["fedprox_mu"] = 0.5  # the study trains with FedAvg, which never reads it


def _kappa_as_an_int(config: dict) -> None:
    config["strategies"]["fairfal"] = {"method": "fairfal", "options": {"kappa": 4}}  # its default, 4.0


@pytest.mark.parametrize(
    "edit, planned",
    [
        (_label, {"accuracy_table", "accuracy_figure", "publish_report"}),  # publish_report copies them
        (_fedprox_mu_under_fedavg, set()),
        (_kappa_as_an_int, set()),
    ],
    ids=["a label rename: the tables only", "an option of an unused algorithm: nothing", "4 for 4.0: nothing"],
)
def test_edits_that_change_no_number_plan_no_computation(edit, planned, finished, tmp_path):
    jobs = _planned_after(finished, tmp_path, edit)
    assert {job["rule"] for job in jobs} == planned, [(j["rule"], j["reason"]) for j in jobs]
    own = [job for job in jobs if job["rule"] != "publish_report"]
    assert all("Params have changed" in job["reason"] for job in own), [(j["rule"], j["reason"]) for j in own]
