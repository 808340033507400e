"""A job's params are exactly what its stage computes with (fal/config/params.py): every protocol key and
fidelity switch is declared for the stages that read it, and the projections give one canonical form."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from helpers import ROOT

from fal.config import FidelityConfig, ProtocolConfig, StrategyConfig, resolve_study
from fal.config.params import (
    FIDELITY_ONLY_WHEN,
    FIDELITY_READ_BY,
    PROTOCOL_ONLY_WHEN,
    PROTOCOL_READ_BY,
    STAGES,
    fidelity_from_params,
    fidelity_params,
    protocol_from_params,
    protocol_params,
)

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_every_key_is_declared_for_the_stages_that_read_it():
    assert set(PROTOCOL_READ_BY) == {f.name for f in dataclasses.fields(ProtocolConfig)}
    assert set(FIDELITY_READ_BY) == {f.name for f in dataclasses.fields(FidelityConfig)}
    for stages in [*PROTOCOL_READ_BY.values(), *FIDELITY_READ_BY.values()]:
        assert set(stages) <= set(STAGES)
    assert set(PROTOCOL_ONLY_WHEN) <= set(PROTOCOL_READ_BY) and set(FIDELITY_ONLY_WHEN) <= set(FIDELITY_READ_BY)


def test_the_later_schedule_is_not_a_param_of_earlier_jobs():
    quick = resolve_study(CONFIG, "quick").protocol
    longer = dataclasses.replace(quick, end_ratio=0.4)
    for stage in STAGES:
        assert protocol_params(quick, stage) == protocol_params(longer, stage)  # one more cycle changes no job
    more_rounds = dataclasses.replace(quick, rounds=7)
    assert protocol_params(quick, "partition") == protocol_params(more_rounds, "partition")
    assert protocol_params(quick, "query") == protocol_params(more_rounds, "query")
    assert protocol_params(quick, "train") != protocol_params(more_rounds, "train")
    assert set(protocol_params(quick, "partition")) == {"initial_ratio", "budget_rule"}


def test_conditional_keys_belong_to_the_jobs_that_read_them():
    fedavg = ProtocolConfig()
    assert "fedprox_mu" not in protocol_params(fedavg, "train")
    assert protocol_params(dataclasses.replace(fedavg, fl_algorithm="fedprox"), "train")["fedprox_mu"] == 0.01
    assert "lr_milestones" not in protocol_params(fedavg, "train") and "lr_decay_at" in protocol_params(fedavg, "train")
    per_epoch = dataclasses.replace(fedavg, lr_schedule="client_epoch")
    assert "lr_milestones" in protocol_params(per_epoch, "train") and "lr_decay_at" not in protocol_params(
        per_epoch, "train"
    )
    assert "last_round_all_clients" not in protocol_params(fedavg, "train")  # every client trains every round
    sampled = dataclasses.replace(fedavg, client_fraction=0.5)
    assert "last_round_all_clients" in protocol_params(sampled, "train")
    fidelity = FidelityConfig()
    assert "shared_cycle1_init" in fidelity_params(fidelity, "train", cycle=1, algorithm="fedavg")
    assert "shared_cycle1_init" not in fidelity_params(fidelity, "train", cycle=2, algorithm="fedavg")
    assert "kcfu_teacher_bn" in fidelity_params(fidelity, "train", cycle=2, algorithm="kcfu")
    assert "kcfu_teacher_bn" not in fidelity_params(fidelity, "train", cycle=2, algorithm="fedavg")
    assert "fairfal_gamma_bar" in fidelity_params(fidelity, "query", method="fairfal", cycle=3)
    assert "fairfal_gamma_bar" not in fidelity_params(fidelity, "query", method="fairfal", cycle=2)  # first query
    assert "fairfal_gamma_bar" not in fidelity_params(fidelity, "query", method="entropy", cycle=3)
    assert "pool_order" in fidelity_params(fidelity, "query", method="entropy", cycle=2)


def test_params_rebuild_the_configuration_the_stage_reads():
    kafal = resolve_study(CONFIG, "kafal_table2_3").protocol
    rebuilt = protocol_from_params(protocol_params(kafal, "train"))
    for key in protocol_params(kafal, "train"):
        assert getattr(rebuilt, key) == getattr(kafal, key), key
    query = protocol_from_params(protocol_params(kafal, "query"))
    assert query.local_model == kafal.local_model and query.transform == "kafal"
    corrected = FidelityConfig.from_dict("corrected")
    assert (
        fidelity_from_params(fidelity_params(corrected, "query", method="fairfal", cycle=3)).pool_order == "ascending"
    )


@pytest.mark.parametrize(
    "spec, same",
    [
        ({"method": "fairfal", "options": {"delta": 0.75}}, True),  # written at its default
        ({"method": "fairfal", "options": {"delta": 0.5}}, False),
        ({"method": "fairfal", "label": "FairFAL (renamed)"}, True),  # a label is the analysis' business
    ],
)
def test_a_strategys_query_params_are_canonical(spec, same):
    plain = StrategyConfig.from_dict("fairfal", {"method": "fairfal"}, "s").query_params()
    assert (StrategyConfig.from_dict("fairfal", spec, "s").query_params() == plain) is same


@pytest.mark.parametrize("name", sorted(CONFIG["strategies"]))
def test_the_query_script_rebuilds_every_strategy_from_its_params(name):
    """workflow/scripts/query.py rebuilds the strategy from its query params alone: they must be a valid
    strategy entry that computes the same query (LL4AL's failed before: a loss module under fedavg)."""
    strategy = StrategyConfig.from_dict(name, CONFIG["strategies"][name], f"strategies.{name}")
    rebuilt = StrategyConfig.from_dict(name, strategy.query_params(), f"strategies.{name}")
    assert rebuilt.query_params() == strategy.query_params()
    assert rebuilt.resolved_federated().get("loss_prediction") == strategy.resolved_federated().get("loss_prediction")
    assert rebuilt.needs_client_models == strategy.needs_client_models
