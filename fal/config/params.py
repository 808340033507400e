"""A job's params are exactly what determines its outputs.

Snakemake reruns a job when its params change, so each rule gets, of the protocol and the fidelity
switches, only the keys its stage computes with (declared once here, per key, and tested against the
dataclasses' fields): a partition does not rerun when the schedule after cycle 1 changes, a training
cycle not when the query budget does, nothing when a later cycle is added. A key that only some jobs of
a stage read (FedProx's μ, KCFU's switches, FairFAL's) carries a condition on the job. The job scripts
rebuild their configuration from these params (``from_params``); keys that are not params take their
defaults there and are never read (the sweep test in tests/workflow/test_config_reruns.py checks that
every output a change affects is scheduled, and nothing else).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig

STAGES = ("partition", "train", "query", "metrics")
"""The rules whose params carry protocol or fidelity keys."""

PROTOCOL_READ_BY: dict[str, tuple[str, ...]] = {
    "num_clients": (),  # the setting carries it (and the path)
    "client_fraction": ("train",),
    "rounds": ("train",),
    "local_epochs": ("train",),
    "batch_size": ("train", "query"),  # query: the local models trained at query time
    "lr": ("train", "query"),
    "momentum": ("train", "query"),
    "weight_decay": ("train", "query"),
    "lr_decay": ("train", "query"),
    "lr_decay_at": ("train",),
    "initial_ratio": ("partition", "metrics"),
    "query_ratio": ("query", "metrics"),
    "end_ratio": (),  # how many cycles run: the DAG's shape, not any job's computation
    "model": ("train", "query"),
    "fl_algorithm": ("train",),
    "fedprox_mu": ("train",),
    "local_model": ("query",),
    "schedule": (),  # a name whose values fill in the others
    "optimizer_scope": ("train",),
    "lr_schedule": ("train",),
    "lr_milestones": ("train",),
    "last_round_all_clients": ("train",),
    "transform": ("train", "query"),
    "budget_rule": ("partition", "query", "metrics"),
}
"""Which stages compute with each protocol key."""

Condition = Callable[[Mapping[str, Any]], bool]
"""Whether a job reads a key, given the job's attributes (for the protocol: its keys' values too)."""

PROTOCOL_ONLY_WHEN: dict[str, Condition] = {
    "fedprox_mu": lambda job: job["fl_algorithm"] == "fedprox",
    "lr_decay_at": lambda job: job["lr_schedule"] == "round",
    "lr_milestones": lambda job: job["lr_schedule"] == "client_epoch",
    # with every client in every round, "every client in the last round" changes nothing
    "last_round_all_clients": lambda job: job["client_fraction"] < 1,
}
"""Keys a stage reads only for some jobs."""

FIDELITY_READ_BY: dict[str, tuple[str, ...]] = {
    "preset": (),  # a name for a set of switches
    "lt_query_view_mismatch": ("partition",),
    "partition_seed": ("partition",),
    "shared_cycle1_init": ("train",),
    "fl_lr_decay": ("train",),
    "local_lr_milestone_unit": ("query",),
    "fairfal_m2_model": ("query",),
    "fairfal_prototype_similarity": ("query",),
    "fairfal_gamma_bar": ("query",),
    "pool_order": ("query",),
    "kcfu_teacher_bn": ("train",),
    "kcfu_distillation_pool": ("train",),
}
"""Which stages compute with each fidelity switch."""

FIDELITY_ONLY_WHEN: dict[str, Condition] = {
    "shared_cycle1_init": lambda job: job["cycle"] == 1,
    "fairfal_m2_model": lambda job: job["method"] == "fairfal",
    "fairfal_prototype_similarity": lambda job: job["method"] == "fairfal",
    # the first query computes γ̄ either way; the switch decides whether later queries keep it
    "fairfal_gamma_bar": lambda job: job["method"] == "fairfal" and job["cycle"] > 2,
    "kcfu_teacher_bn": lambda job: job["algorithm"] == "kcfu",
    "kcfu_distillation_pool": lambda job: job["algorithm"] == "kcfu",
}


def _project(values: Mapping[str, Any], read_by, only_when, stage: str, job: Mapping[str, Any]) -> dict[str, Any]:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {list(STAGES)}")
    return {
        key: value
        for key, value in values.items()
        if stage in read_by[key] and (key not in only_when or only_when[key](job))
    }


def protocol_params(protocol: ProtocolConfig, stage: str, **job: Any) -> dict[str, Any]:
    """The protocol keys ``stage`` computes with, for a job with attributes ``job`` (e.g. its FL
    algorithm); JSON-friendly (lists, not tuples)."""
    values = dataclasses.asdict(protocol)
    values["lr_milestones"] = list(values["lr_milestones"])
    return _project(values, PROTOCOL_READ_BY, PROTOCOL_ONLY_WHEN, stage, {**values, **job})


def fidelity_params(fidelity: FidelityConfig, stage: str, **job: Any) -> dict[str, Any]:
    """The fidelity switches ``stage`` computes with, for a job with attributes ``job`` (its cycle, FL
    algorithm, method)."""
    return _project(dataclasses.asdict(fidelity), FIDELITY_READ_BY, FIDELITY_ONLY_WHEN, stage, job)


def protocol_from_params(params: Mapping[str, Any]) -> ProtocolConfig:
    """A job's protocol from its params; the keys its stage does not read take their defaults (and are
    never read), so cross-key checks are left to the configuration that produced the params."""
    params = dict(params)
    local = params.pop("local_model", None)
    if "lr_milestones" in params:
        params["lr_milestones"] = tuple(params["lr_milestones"])
    protocol = dataclasses.replace(ProtocolConfig(), **params)
    if local is not None:
        from fal.config.protocol import LocalModelConfig

        protocol = dataclasses.replace(protocol, local_model=LocalModelConfig(**local))
    return protocol


def fidelity_from_params(params: Mapping[str, Any]) -> FidelityConfig:
    """A job's fidelity switches from its params (the others keep their faithful defaults, never read)."""
    return dataclasses.replace(FidelityConfig(), **params)
