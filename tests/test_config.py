"""Configuration: schema and library agree; bad values fail with the offending key named."""

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from fal.config.base import ConfigError
from fal.config.fidelity import FidelityConfig, preset_values
from fal.config.protocol import MODELS, LocalModelConfig, ProtocolConfig
from fal.config.runtime import COMPILE_MODES, PRECISIONS, TRAINERS, RuntimeConfig
from fal.plan.catalog import DATASETS, METHODS, protocol_algorithms
from fal.plan.study import resolve_study

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_schema_enums_match_the_library():
    # each method declares itself in its own module: the schema leaves the name to the registry
    assert "enum" not in SCHEMA["properties"]["strategies"]["additionalProperties"]["properties"]["method"]
    assert len(METHODS) >= 18
    # datasets, tables and figures declare themselves in their modules: the schema leaves the names to fal.config
    study = SCHEMA["$defs"]["study"]["properties"]
    for key in ("datasets", "tables", "figures"):
        assert "enum" not in study[key]["items"], key
    assert len(DATASETS) >= 10
    protocol = SCHEMA["$defs"]["protocol"]["properties"]
    assert sorted(protocol) == sorted(f.name for f in dataclasses.fields(ProtocolConfig))
    assert sorted(protocol["local_model"]["properties"]) == sorted(f.name for f in dataclasses.fields(LocalModelConfig))
    fidelity = SCHEMA["$defs"]["fidelity"]["oneOf"][1]["properties"]
    assert sorted(fidelity) == sorted(f.name for f in dataclasses.fields(FidelityConfig))
    runtime = SCHEMA["properties"]["runtime"]["properties"]
    assert sorted(runtime) == sorted(f.name for f in dataclasses.fields(RuntimeConfig))
    assert sorted(protocol["model"]["anyOf"][0]["enum"]) == sorted(MODELS)
    from fal.config.protocol import SCHEDULE_CHOICES
    from fal.plan.schedules import FEDERATED_SCHEDULES, SCHEDULES

    assert protocol["schedule"]["enum"] == sorted(FEDERATED_SCHEDULES) == list(SCHEDULES)
    for key in ("optimizer_scope", "lr_schedule", "transform", "budget_rule"):
        assert protocol[key]["enum"] == list(SCHEDULE_CHOICES[key])
    assert sorted(protocol["model"]["anyOf"][1]["items"]["enum"]) == sorted(MODELS)
    from fal.config.setting import MULTILABEL_PARTITION_RULES

    assert study["data"]["properties"]["multilabel_partition"]["enum"] == list(MULTILABEL_PARTITION_RULES)
    # the algorithm registry is the one list of FL algorithms: the schema leaves the choice to fal.config
    assert "enum" not in str(protocol["fl_algorithm"])
    assert set(protocol_algorithms()) >= {"fedavg", "fedprox", "scaffold", "fednova"}
    assert (runtime["trainer"]["enum"], runtime["compile"]["enum"], runtime["precision"]["enum"]) == (
        list(TRAINERS),
        list(COMPILE_MODES),
        list(PRECISIONS),
    )


def test_schema_federated_and_analysis_blocks_match_the_library():
    from fal.plan.catalog import ALGORITHMS, strategy_updates
    from fal.plan.study import AnalysisConfig

    federated = SCHEMA["$defs"]["federated"]["properties"]
    assert federated["algorithm"]["enum"] == list(strategy_updates()) == ["fedavg", "kcfu"]
    declared = {o.name: o for name in strategy_updates() for o in ALGORITHMS[name].options}
    assert sorted(federated) == sorted({"algorithm", *declared})
    for key, option in declared.items():
        assert federated[key] == option.json_schema(), key
    analysis = SCHEMA["$defs"]["study"]["properties"]["analysis"]["properties"]
    assert sorted(analysis) == sorted(f.name for f in dataclasses.fields(AnalysisConfig))


def test_unknown_dataset_table_and_figure_names_fail_with_close_matches():
    for key, value, message in [
        ("datasets", ["fmnist_ltt"], "unknown dataset 'fmnist_ltt'"),
        ("tables", ["table5_7"], "unknown table 'table5_7'"),
        ("figures", ["figure9"], "unknown figure 'figure9'"),
    ]:
        config = copy.deepcopy(CONFIG)
        config["studies"]["quick"][key] = value
        with pytest.raises(ConfigError, match=message):
            resolve_study(config, "quick")


def test_trainer_choice():
    assert RuntimeConfig().resolved_trainer("cpu") == "sequential"
    assert RuntimeConfig().resolved_trainer("cuda:0") == "vectorised"
    assert RuntimeConfig(trainer="vectorised").resolved_trainer("cpu") == "vectorised"
    with pytest.raises(ConfigError, match="runtime.trainer"):
        RuntimeConfig.from_dict({"trainer": "parallel"})
    with pytest.raises(ConfigError, match="runtime.precision"):
        RuntimeConfig.from_dict({"precision": "fp16"})


def test_default_protocol_is_the_papers():
    p = ProtocolConfig.from_dict(CONFIG["protocol"])
    assert (p.num_clients, p.rounds, p.local_epochs, p.batch_size) == (10, 100, 5, 64)
    assert (p.lr, p.momentum, p.weight_decay, p.lr_decay, p.lr_decay_at) == (0.01, 0.9, 1e-5, 0.1, 0.75)
    assert (p.initial_ratio, p.query_ratio, p.end_ratio, p.num_cycles()) == (0.05, 0.05, 0.45, 9)
    assert (p.local_model.epochs, p.local_model.stop_train_acc, p.local_model.lr_milestone) == (50, 0.99, 37)
    assert p == ProtocolConfig()


def test_every_defined_study_resolves():
    for name in CONFIG["studies"]:
        study = resolve_study(CONFIG, name)
        assert study.settings and study.seeds and study.strategies


def test_quick_study():
    study = resolve_study(CONFIG, "quick")
    assert [s.id for s in study.settings] == [
        "fmnist_lt-rho20-alpha0.1-K10-max500-test50",
        "fmnist_lt-rho20-alpha100-K10-max500-test50",
    ]
    assert study.seeds == (1, 2, 3)
    assert [s.name for s in study.strategies] == ["random", "entropy_g", "entropy_l", "fairfal"]
    assert [s.selector for s in study.strategies] == ["–", "G", "L", "G, L"]
    assert study.num_cycles == 3
    assert study.fidelity.preset == "faithful"


def test_study_fidelity_merges_into_the_top_level_one_like_protocol():
    config = copy.deepcopy(CONFIG)
    config["fidelity"] = {"preset": "faithful", "pool_order": "ascending"}
    config["studies"]["quick"]["fidelity"] = {"lt_query_view_mismatch": False}
    fidelity = resolve_study(config, "quick").fidelity
    assert fidelity.pool_order == "ascending" and fidelity.lt_query_view_mismatch is False
    assert fidelity.partition_seed == "fixed"  # the rest of the faithful preset
    config["studies"]["quick"]["fidelity"] = "corrected"  # a bare preset name
    fidelity = resolve_study(config, "quick").fidelity
    assert fidelity.preset == "corrected" and fidelity.partition_seed == "run"
    assert fidelity.pool_order == "ascending"  # the top-level switch still applies
    del config["studies"]["quick"]["fidelity"]
    assert resolve_study(config, "quick").fidelity.pool_order == "ascending"


def test_fidelity_presets_and_overrides():
    faithful = FidelityConfig.from_dict("faithful")
    corrected = FidelityConfig.from_dict({"preset": "corrected"})
    assert faithful.to_dict() == {"preset": "faithful", **preset_values("faithful")}
    assert corrected.lt_query_view_mismatch is False and corrected.partition_seed == "run"
    mixed = FidelityConfig.from_dict({"preset": "faithful", "lt_query_view_mismatch": False})
    assert mixed.lt_query_view_mismatch is False and mixed.partition_seed == "fixed"


def mutate(path: str, value):
    config = copy.deepcopy(CONFIG)
    node = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return config


BAD_STUDY_CONFIGS = [
    ("studies.quick.bogus", 1, "studies.quick: unknown key(s) 'bogus'"),
    ("studies.quick.datasets", ["kmnist"], "unknown dataset 'kmnist'"),
    ("studies.quick.rho", [0.5], "rho"),
    ("studies.quick.alpha", [0], "alpha"),
    ("studies.quick.seeds", [1, 1], "duplicate seeds"),
    ("studies.quick.strategies", ["nope"], "unknown strategy 'nope'"),
    ("studies.quick.protocol", {"rounds": 0}, "studies.quick.protocol.rounds"),
    ("studies.quick.protocol", {"lr": -1}, "studies.quick.protocol.lr"),
    ("studies.quick.protocol", {"initial_ratio": 0.5, "end_ratio": 0.3}, "end_ratio"),
    ("studies.quick.protocol", {"model": "vgg"}, "unknown model 'vgg'"),
    ("studies.quick.protocol", {"fl_algorithm": "fedsgd"}, "studies.quick.protocol.fl_algorithm"),
    ("studies.quick.protocol", {"fl_algorithm": "kcfu"}, "studies.quick.protocol.fl_algorithm"),
    ("studies.quick.protocol", {"fedprox_mu": -0.1}, "studies.quick.protocol.fedprox_mu"),
    ("studies.quick.protocol", {"local_model": {"epochs": 0}}, "local_model.epochs"),
    ("studies.quick.protocol", {"local_model": {"bogus": 1}}, "local_model: unknown key(s) 'bogus'"),
    ("studies.quick.fidelity", {"partition_seed": "sometimes"}, "fidelity.partition_seed"),
    ("studies.quick.fidelity", {"preset": "loose"}, "fidelity.preset"),
    ("studies.quick.data", {"lt_img_max": 0}, "lt_img_max"),
    ("studies.quick.data", {"colour": 1}, "data: unknown key(s) 'colour'"),
    ("studies.quick.datasets", KeyError, "missing required key 'datasets'"),
    (
        "studies.quick.protocol",
        {"initial_ratio": 0.1, "query_ratio": 0.3, "end_ratio": 1.0},
        "studies.quick.protocol.end_ratio: setting fmnist_lt-rho20-alpha0.1-K10-max500-test50: the smallest client holds 169 images",
    ),
    (
        "studies.quick.data",
        {"lt_img_max": 500, "test_per_class": 5000},
        "studies.quick.data.test_per_class: 5000 exceeds the 1000 test images",
    ),
    (
        "studies.quick.data",
        {"lt_img_max": 9000},
        "studies.quick.data.lt_img_max: 9000 exceeds the 6000 training images per class",
    ),
    ("studies.quick.num_clients", 2000, "empty per-client budget"),
    ("strategies.entropy_g", {"method": "entropy"}, "strategies.entropy_g.query_model"),
    ("strategies.random", {"method": "random", "query_model": "local"}, "strategies.random.query_model"),
    (
        "strategies.fairfal",
        {"method": "fairfal", "options": {"kapa": 4}},
        "strategies.fairfal.options.kapa: unknown option of method fairfal; did you mean kappa?",
    ),
    ("strategies.entropy_l", {"method": "entrpy", "query_model": "local"}, "unknown method 'entrpy'"),
]


@pytest.mark.parametrize(
    "path, value, message", BAD_STUDY_CONFIGS, ids=[c[0] + ":" + str(c[1])[:20] for c in BAD_STUDY_CONFIGS]
)
def test_bad_config_names_the_problem(path, value, message):
    with pytest.raises(ConfigError) as info:
        resolve_study(mutate(path, value), "quick")
    assert message in str(info.value)


def test_unknown_study_is_named():
    with pytest.raises(ConfigError, match="unknown study 'quik'"):
        resolve_study(CONFIG, "quik")


def test_natural_dataset_rejects_rho():
    config = mutate("studies.quick.datasets", ["octmnist"])  # quick gives rho 20: nothing would take it
    with pytest.raises(ConfigError, match=r"studies.quick.rho: no dataset of this study is long-tailed"):
        resolve_study(config, "quick")
    config = mutate("studies.quick.datasets", ["fmnist_lt", "octmnist"])
    study = resolve_study(config, "quick")  # the long-tailed dataset takes it, the natural one keeps its own
    assert [s.rho for s in study.settings if s.dataset == "octmnist"] == [None] * 2
    from fal.plan.checks import build_setting

    with pytest.raises(ConfigError, match="rho must not be set"):
        build_setting({"dataset": "octmnist", "alpha": 0.1, "rho": 20}, "setting")


def test_tables_figures_and_analysis_options():
    quick = resolve_study(CONFIG, "quick")
    assert "table1" in quick.tables and "figure2" in quick.figures
    info = quick.analysis_info()
    assert info["compare_published"] is False  # reduced protocol: published values are not comparable
    assert resolve_study(CONFIG, "table5_6").analysis_info()["compare_published"] is True
    for key, value, message in [
        ("tables", ["table4"], "studies.quick.tables: unknown table 'table4'"),
        ("figures", ["figure9"], "studies.quick.figures: unknown figure 'figure9'"),
        ("analysis", {"win_rate": "strict"}, "studies.quick.analysis.win_rate"),
        ("analysis", {"bogus": 1}, "studies.quick.analysis: unknown key"),
    ]:
        config = copy.deepcopy(CONFIG)
        config["studies"]["quick"][key] = value
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            resolve_study(config, "quick")


def test_strategy_variant_names_non_default_options():
    config = copy.deepcopy(CONFIG)
    config["strategies"]["fairfal_k2"] = {
        "method": "fairfal",
        "options": {"kappa": 2, "delta": 0.75, "uncertainty": "margin"},
    }
    config["studies"]["quick"]["strategies"] = ["fairfal", "fairfal_k2"]
    info = resolve_study(config, "quick").analysis_info()
    assert [s["variant"] for s in info["strategies"]] == ["", "kappa=2,uncertainty=margin"]


def test_kcfu_strategy_in_a_scaffold_study_is_refused_at_parse_time():
    config = mutate("studies.quick.strategies", ["random", "kafal_full"])
    config["studies"]["quick"]["protocol"]["fl_algorithm"] = "scaffold"
    with pytest.raises(ConfigError) as info:
        resolve_study(config, "quick")
    assert "studies.quick.protocol.fl_algorithm" in str(info.value) and "kafal_full" in str(info.value)
    config["studies"]["quick"]["protocol"]["fl_algorithm"] = "fedavg"
    resolve_study(config, "quick")  # the same study on FedAvg is fine


def test_ll4al_needs_a_model_with_feature_maps():
    """LL4AL's loss module taps feature maps; the 2NN of KAFAL Fig. 11 has none: refused before any job runs."""
    from fal.config.protocol import CONVOLUTIONAL_MODELS
    from fal.federated.loss_prediction import tap_points
    from fal.federated.models import build_model

    for name in sorted(MODELS):
        model = build_model(name, DATASETS["mnist"] if name == "mnist_2nn" else DATASETS["cifar10"], 0)
        if name in CONVOLUTIONAL_MODELS:
            assert tap_points(model)
        else:
            with pytest.raises(ValueError, match="no loss-prediction taps"):
                tap_points(model)
    config = copy.deepcopy(CONFIG)
    config["studies"]["kafal_fig11"]["strategies"].append("ll4al_l_lastround")
    with pytest.raises(
        ConfigError,
        match="strategy ll4al_l_lastround trains a module with the model that taps feature maps; model mnist_2nn has none",
    ):
        resolve_study(config, "kafal_fig11")


def test_a_natural_dataset_gets_one_setting_whatever_the_rho_list():
    """LoGo Fig. 2 crosses balanced CIFAR-10 (ρ = 1) with CIFAR-10-LT at ρ 5, 10, 20."""
    study = resolve_study(CONFIG, "logo_figure2")
    ids = [s.id for s in study.settings]
    assert len(ids) == len(set(ids)) == 3 + 3 * 3
    assert sum(s.dataset == "cifar10" for s in study.settings) == 3  # one per alpha


def test_the_schema_allows_a_list_exactly_for_the_protocol_axes():
    from fal.plan.study import PROTOCOL_AXES

    protocol = SCHEMA["$defs"]["protocol"]["properties"]
    listable = {key for key, rule in protocol.items() if any(o.get("type") == "array" for o in rule.get("anyOf", []))}
    assert listable == set(PROTOCOL_AXES)


def test_participation_as_an_axis_is_one_setting_per_fraction():
    """``protocol.client_fraction`` as a list (KAFAL Fig. 9's 40 % against 80 % or full participation):
    each share is its own setting, id, protocol and train params; every value is checked."""

    config = copy.deepcopy(CONFIG)
    config["studies"]["participation"] = {
        "datasets": ["fmnist_lt"],
        "rho": [20],
        "alpha": [0.1],
        "seeds": [1],
        "strategies": ["random"],
        "protocol": {"client_fraction": [0.4, 1.0]},
    }
    study = resolve_study(config, "participation")
    assert [s.id for s in study.settings] == ["fmnist_lt-rho20-alpha0.1-K10-C0.4", "fmnist_lt-rho20-alpha0.1-K10-C1"]
    assert [study.protocol_of(s.id).client_fraction for s in study.settings] == [0.4, 1.0]
    assert [s.to_dict()["client_fraction"] for s in study.settings] == [0.4, 1.0]
    train = [study.protocol_of(s.id).read_by("train") for s in study.settings]
    assert [p["client_fraction"] for p in train] == [0.4, 1.0]
    # a study without the axis keeps its settings' ids and params as before the axis existed
    quick = resolve_study(CONFIG, "quick")
    assert all("client_fraction" not in s.to_dict() and "-C" not in s.id for s in quick.settings)
    config["studies"]["participation"]["protocol"]["client_fraction"] = [0.4, 1.5]
    with pytest.raises(
        ConfigError, match=r"studies.participation.protocol.client_fraction: must be in \(0, 1\], got 1.5"
    ):
        resolve_study(config, "participation")
    config["studies"]["participation"]["protocol"]["client_fraction"] = [0.4, 0.4]
    with pytest.raises(ConfigError, match="distinct values"):
        resolve_study(config, "participation")
    config["protocol"] = {**config.get("protocol", {}), "client_fraction": [0.4, 1.0]}
    with pytest.raises(ConfigError, match="protocol.client_fraction: a list is allowed only in a study"):
        resolve_study(config, "quick")


def _multilabel_study(**changes):
    config = copy.deepcopy(CONFIG)
    study = {**config["studies"]["kafal_table4_chestmnist"], **changes}
    config["studies"]["ml"] = study
    return config


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"strategies": ["random", "fairfal"]}, r"method fairfal has no multi-label score.*methods that have one: \["),
        ({"strategies": ["entropy_l"]}, "queries with scratch local models"),
        ({"strategies": ["ll4al_l_lastround"]}, "method ll4al has no multi-label score"),
        ({"tables": ["table5_6"]}, r"table5_6 reports accuracy and cannot show the mean AUC.*\['kafal_table4'\]"),
        ({"figures": ["figure3"]}, "figure3 reports accuracy"),
        ({"datasets": ["chestmnist", "octmnist"]}, "multi-label .*chestmnist.* and single-label datasets cannot share"),
        ({"data": {"multilabel_partition": "widest"}}, "multilabel_partition: one of"),
    ],
)
def test_a_multilabel_study_refuses_what_has_no_multilabel_form(changes, message):
    """Before any job runs (KAFAL Table 4's studies): strategies, FL updates, local models, tables and
    figures without a multi-label form, and mixing multi-label with single-label data."""
    with pytest.raises(ConfigError, match=message):
        resolve_study(_multilabel_study(**changes), "ml")


def test_multilabel_studies_resolve_with_their_partition_rule():
    study = resolve_study(_multilabel_study(data={"multilabel_partition": "first"}), "ml")
    assert study.settings[0].id == "chestmnist-alpha0.1-K5-byfirst"
    assert study.protocol.model == "cnn4conv" and study.protocol.client_fraction == 0.8
    table4 = resolve_study(CONFIG, "kafal_table4")
    assert table4.protocol.model == "resnet50" and table4.uses_paper_protocol
    assert [s.method for s in table4.strategies] == ["random", "coreset", "entropy", "margin", "ksas"]
    with pytest.raises(ConfigError, match="multilabel_partition: one of"):
        config = copy.deepcopy(CONFIG)
        config["studies"]["quick"]["data"] = {
            **config["studies"]["quick"].get("data", {}),
            "multilabel_partition": "first",
        }
        resolve_study(config, "quick")  # single-label data has no such choice


def test_an_override_is_noted_in_the_description_the_captions_print():
    """A study changed by --configfile/--config says so (config.yaml's description would otherwise describe
    a run it was not); changing only which outputs it writes is not noted, so no caption changes."""
    from fal.plan.study import changed_from, with_overrides_noted

    base_config = yaml.safe_load((ROOT / "config.yaml").read_text())
    changed = copy.deepcopy(base_config)
    quick = changed["studies"]["quick"]
    quick["protocol"] = {**quick.get("protocol", {}), "rounds": 7}
    quick["seeds"] = [1]
    base = resolve_study(base_config, "quick")
    study = resolve_study(changed, "quick")
    note = changed_from(study, base)
    assert note.startswith("Changed from config.yaml's study: protocol.rounds ")
    assert "→ 7" in note and "seeds [1, 2, 3] → [1]" in note
    noted = with_overrides_noted({"quick": study}, base_config)["quick"]
    assert noted.description == f"{base.description.strip()} {note}"
    more_outputs = copy.deepcopy(base_config)
    more_outputs["studies"]["quick"]["tables"] = list(base.tables)[:1]
    assert changed_from(resolve_study(more_outputs, "quick"), base) == ""
    assert changed_from(base, base) == ""
    assert changed_from(study, None) == "Defined outside config.yaml."
