"""A job's params are exactly what its stage computes with (fal/plan/params.py): every protocol key and
fidelity switch declares the stages that read it, declarations reach the jobs that run them, and the
params rebuild the configuration a job computes with in one canonical form."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from helpers import ROOT

from fal.config.fidelity import SWITCHES, FidelityConfig
from fal.config.protocol import KEYS, ProtocolConfig
from fal.config.strategy import StrategyConfig
from fal.plan import params
from fal.plan.catalog import ALGORITHMS, METHODS
from fal.plan.strategies import StrategyEntry
from fal.plan.study import resolve_study
from fal.registry import STAGES

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_every_key_is_declared_for_the_stages_that_read_it():
    assert set(KEYS) == {f.name for f in dataclasses.fields(ProtocolConfig)}
    assert set(SWITCHES) | {"preset"} == {f.name for f in dataclasses.fields(FidelityConfig)}
    for stages in [*(k.read_by for k in KEYS.values()), *(s.read_by for s in SWITCHES.values())]:
        assert set(stages) <= set(STAGES)
    for key in KEYS.values():  # conditions name protocol keys
        assert {name for name, _, _ in key.when} <= set(KEYS)


def test_the_later_schedule_is_not_a_param_of_earlier_jobs():
    quick = resolve_study(CONFIG, "quick").protocol
    longer = dataclasses.replace(quick, end_ratio=0.4)
    for stage in set(STAGES) - {"analysis"}:
        assert quick.read_by(stage) == longer.read_by(stage)  # one more cycle changes no computing job
    more_rounds = dataclasses.replace(quick, rounds=7)
    assert quick.read_by("partition") == more_rounds.read_by("partition")
    assert quick.read_by("query") == more_rounds.read_by("query")
    assert quick.read_by("train") != more_rounds.read_by("train")
    assert set(quick.read_by("partition")) == {"initial_ratio", "budget_rule"}


def test_conditional_keys_belong_to_the_jobs_that_read_them():
    fedavg = ProtocolConfig()
    assert "fedprox_mu" not in fedavg.read_by("train")
    assert dataclasses.replace(fedavg, fl_algorithm="fedprox").read_by("train")["fedprox_mu"] == 0.01
    assert "lr_milestones" not in fedavg.read_by("train") and "lr_decay_at" in fedavg.read_by("train")
    per_epoch = dataclasses.replace(fedavg, lr_schedule="client_epoch")
    assert "lr_milestones" in per_epoch.read_by("train") and "lr_decay_at" not in per_epoch.read_by("train")
    assert "last_round_all_clients" not in fedavg.read_by("train")  # every client trains every round
    assert "last_round_all_clients" in dataclasses.replace(fedavg, client_fraction=0.5).read_by("train")
    fidelity = FidelityConfig()
    kcfu, fairfal = ALGORITHMS["kcfu"].reads, METHODS["fairfal"].reads
    assert "shared_cycle1_init" in fidelity.read_by("train", 1)
    assert "shared_cycle1_init" not in fidelity.read_by("train", 2)
    assert "kcfu_teacher_bn" in fidelity.read_by("train", 2, kcfu)
    assert "kcfu_teacher_bn" not in fidelity.read_by("train", 2, ALGORITHMS["fedavg"].reads)
    assert "fairfal_gamma_bar" in fidelity.read_by("query", 3, fairfal)
    assert "fairfal_gamma_bar" not in fidelity.read_by("query", 2, fairfal)  # the first query computes it anyway
    assert "fairfal_gamma_bar" not in fidelity.read_by("query", 3, METHODS["entropy"].reads)
    assert "pool_order" in fidelity.read_by("query", 2)


def test_declared_reads_name_switches_or_keys_that_exist():
    for declaration in [*METHODS.values(), *ALGORITHMS.values()]:
        for name in declaration.reads:
            kind, _, key = name.partition(".")
            assert (kind == "fidelity" and key in SWITCHES) or (kind == "protocol" and key in KEYS), name
    declared_switches = {s for d in [*METHODS.values(), *ALGORITHMS.values()] for s in d.reads}
    for name, switch in SWITCHES.items():  # a switch only some extensions read is declared by one of them
        assert switch.declared == (f"fidelity.{name}" in declared_switches), name


def test_params_rebuild_the_configuration_the_stage_reads():
    kafal = resolve_study(CONFIG, "kafal_table2_3").protocol
    rebuilt = ProtocolConfig.from_params(kafal.read_by("train"))
    for key in kafal.read_by("train"):
        assert getattr(rebuilt, key) == getattr(kafal, key), key
    query = ProtocolConfig.from_params(kafal.read_by("query"))
    assert query.local_model == kafal.local_model and query.transform == "kafal"
    corrected = FidelityConfig.from_dict("corrected")
    assert FidelityConfig.from_params(corrected.read_by("query", 3, METHODS["fairfal"].reads)).pool_order == "ascending"


@pytest.mark.parametrize(
    "spec, same",
    [
        ({"method": "fairfal", "options": {"delta": 0.75}}, True),  # written at its default
        ({"method": "fairfal", "options": {"kappa": 4}}, True),  # 4 and 4.0 are one value
        ({"method": "fairfal", "options": {"delta": 0.5}}, False),
        ({"method": "fairfal", "label": "FairFAL (renamed)"}, True),  # a label is the analysis' business
    ],
)
def test_a_strategys_query_params_are_canonical(spec, same):
    plain = StrategyEntry.from_dict("fairfal", {"method": "fairfal"}, "s").query_strategy().to_params()
    assert (StrategyEntry.from_dict("fairfal", spec, "s").query_strategy().to_params() == plain) is same


@pytest.mark.parametrize("name", sorted(CONFIG["strategies"]))
def test_the_query_script_rebuilds_every_strategy_from_its_params(name):
    """workflow/scripts/query.py rebuilds the strategy from its query params alone."""
    entry = StrategyEntry.from_dict(name, CONFIG["strategies"][name], f"strategies.{name}")
    strategy = entry.query_strategy()
    assert StrategyConfig.from_params(name, strategy.to_params()) == strategy
    assert strategy.entry == METHODS[entry.method].entry_point
    assert strategy.local_model == entry.local_model_kind


def _study_with(strategy: dict, study: dict | None = None) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["strategies"]["probe"] = strategy
    quick = config["studies"]["quick"]
    study = dict(study or {})
    config["studies"]["probe"] = {
        **quick,
        "strategies": ["probe"],
        "tables": [],
        "figures": [],
        "protocol": {**quick.get("protocol", {}), **study.pop("protocol", {})},
        **study,
    }
    return config


def test_every_declared_option_reaches_the_params_of_the_stages_that_read_it():
    """A method's options reach its query jobs (and, when it trains a module with the model, its training
    jobs); an update's options reach its training jobs; neither reaches any other job's params."""
    setting = None
    for name, info in METHODS.items():
        spec = {"method": name, **({"query_model": info.query_models[0]} if info.query_models else {})}
        study = resolve_study(_study_with(spec), "probe")
        setting = study.settings[0].id
        query = params.query_params(study, setting, "probe", 2)["strategy"]
        single_label = {o.name for o in info.options if not o.multi_label_only}
        assert set(query["options"]) == single_label, name
        train = params.train_params(study, setting, "probe", 2)
        assert set(train.get("trains_with", {}).get("options", {})) == (single_label if info.trains_with else set())
        assert not set(params.metrics_params(study, setting, "probe")["strategy"]) & single_label - {"method"}
    for name, info in ALGORITHMS.items():
        if info.chosen_by != "strategy":
            continue
        study = resolve_study(_study_with({"method": "random", "federated": {"algorithm": name}}), "probe")
        setting = study.settings[0].id
        train = params.train_params(study, setting, "probe", 2)
        assert train["algorithm"]["entry"] == info.entry_point
        assert set(train["algorithm"]["options"]) == {o.name for o in info.options if not o.multi_label_only}
        assert "federated" not in params.query_params(study, setting, "probe", 2)["strategy"]


def test_an_option_of_an_update_the_study_does_not_use_is_no_param():
    plain = resolve_study(_study_with({"method": "random"}), "probe")
    fedprox_mu = resolve_study(_study_with({"method": "random"}, {"protocol": {"fedprox_mu": 0.5}}), "probe")
    setting = plain.settings[0].id
    for cycle in (1, 2):
        for arm in ("init", "probe"):
            assert params.train_params(plain, setting, arm, cycle) == params.train_params(
                fedprox_mu, setting, arm, cycle
            )
