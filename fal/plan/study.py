"""Study resolution, on top of the leaf config modules: a study's grid, protocol, fidelity, strategies, outputs."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.config.base import ConfigError, build_config, check, did_you_mean, unknown_keys
from fal.config.fidelity import FidelityConfig
from fal.config.partition_file import PARTITION_KINDS, PartitionFileError, partition_digest, read_partition_file
from fal.config.protocol import CONVOLUTIONAL_MODELS, ProtocolConfig
from fal.config.setting import SETTING_AXES, SettingConfig
from fal.plan.catalog import DATASETS, FIGURES, METHODS, SOURCES, TABLES
from fal.plan.checks import build_setting, check_feasible, check_protocol
from fal.plan.schedules import FEDERATED_SCHEDULES, runs_paper_constants
from fal.plan.strategies import StrategyEntry, resolve_strategies


@dataclass(frozen=True)
class AnalysisConfig:
    """How tables and figures compute their statistics (reference-spec §8); none of it retrains."""

    aulc_x_unit: str = "percent"
    """AULC's x axis: labelled ratio in percent (Table 1's pp magnitudes) or as a fraction."""
    win_rate: str = "faithful"
    """LoGo's winning rate: "faithful" (t > 2.776, first round skipped but divided by R) or "corrected"."""
    emd: str = "half"
    """"half": ½·L1 distance to uniform (LoGo's magnitudes); "l1": without the ½ (Zhao et al.)."""
    accuracy: str | None = None
    """None: each table's own convention (final round; LoGo Table 3: mean of the last 5 rounds); or final / last5."""
    compare_published: bool | None = None
    """Show published values beside reproduced ones; None = only when the study runs the paper's protocol and data."""
    reference_strategy: str | None = None
    """KAFAL Table 1 (``kafal_table1``): the strategy whose accuracy after ``reference_round`` rounds of
    cycle 1 the others must reach (the paper: KCFU)."""
    reference_round: int = 15
    """KAFAL Table 1's benchmark round (the paper: 15)."""

    def validate(self, where: str) -> None:
        for key, allowed in {
            "aulc_x_unit": ("percent", "fraction"),
            "win_rate": ("faithful", "corrected"),
            "emd": ("half", "l1"),
            "accuracy": (None, "final", "last5"),
            "compare_published": (None, True, False),
        }.items():
            value = getattr(self, key)
            check(value in allowed, f"{where}.{key}", f"must be one of {[a for a in allowed]}, got {value!r}")
        check(
            isinstance(self.reference_round, int)
            and not isinstance(self.reference_round, bool)
            and self.reference_round >= 1,
            f"{where}.reference_round",
            f"must be a whole number >= 1, got {self.reference_round!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict; KAFAL Table 1's keys only when set, so studies without it keep their params."""
        out = dataclasses.asdict(self)
        if self.reference_strategy is None and self.reference_round == 15:
            del out["reference_strategy"], out["reference_round"]
        return out


RESERVED_STUDY_NAMES = {"tables", "figures", "published", "reference", "gpu"}
"""Folders under paths.reports that are not studies."""


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """A named experiment grid: settings × seeds × strategies under one protocol."""

    name: str
    description: str
    settings: tuple[SettingConfig, ...]
    seeds: tuple[int, ...]
    strategies: tuple[StrategyEntry, ...]
    protocol: ProtocolConfig
    fidelity: FidelityConfig
    table_ratios: tuple[float, ...] | None
    tables: tuple[str, ...] = ()
    """Paper tables this study produces (names in fal.config.outputs.TABLES)."""
    figures: tuple[str, ...] = ()
    """Paper figures this study produces (names in fal.config.outputs.FIGURES)."""
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    uses_paper_protocol: bool = False
    """True when protocol and data are the paper's (no reductions): published values are then comparable."""
    partition_path: str | None = None
    """With ``partition: {kind: file, path: ...}``: the file (its partition jobs' input; its digest is in
    their params, so moving it reruns nothing)."""

    def analysis_info(self) -> dict[str, Any]:
        """Plain data about the study for the analysis code (fal.stats.papers, fal.plots.papers)."""
        compare = self.analysis.compare_published
        protocol = self.protocol.read_by("analysis")  # what captions and cells read: no other key reruns a table
        fl_algorithm = protocol["fl_algorithm"]
        return {
            "name": self.name,
            "description": self.description,
            "seeds": list(self.seeds),
            "protocol": protocol,
            "fidelity": self.fidelity.preset,
            "strategies": [
                {
                    "name": s.name,
                    "method": s.method,
                    "label": s.display_name,
                    "selector": s.selector,
                    "variant": s.variant,
                    **({"update": s.update_variant} if s.update_variant else {}),
                }
                for s in self.strategies
            ],
            "settings": {
                s.id: {
                    **s.to_dict(),
                    "model": s.model or protocol["model"],
                    "fl_algorithm": s.fl_algorithm or fl_algorithm,
                }
                for s in self.settings
            },
            "table_ratios": list(self.table_ratios) if self.table_ratios else None,
            "analysis": self.analysis.to_dict(),
            "compare_published": self.uses_paper_protocol if compare is None else compare,
            "dataset_labels": {s.dataset: DATASETS[s.dataset].label for s in self.settings},
            "multi_label": any(DATASETS[s.dataset].multi_label for s in self.settings),
        }

    def setting(self, setting_id: str) -> SettingConfig:
        for setting in self.settings:
            if setting.id == setting_id:
                return setting
        raise ConfigError(f"study {self.name}: no setting {setting_id!r}; settings: {[s.id for s in self.settings]}")

    def protocol_of(self, setting_id: str) -> ProtocolConfig:
        """The protocol that trains ``setting_id``: the study's, with the setting's axis values."""
        return self.setting(setting_id).protocol(self.protocol)

    def strategy(self, name: str) -> StrategyEntry:
        for strategy in self.strategies:
            if strategy.name == name:
                return strategy
        raise ConfigError(f"study {self.name}: no strategy {name!r}; strategies: {[s.name for s in self.strategies]}")

    @property
    def num_cycles(self) -> int:
        return self.protocol.num_cycles()


_STUDY_KEYS = {
    "description",
    "datasets",
    "rho",
    "alpha",
    "num_clients",
    "seeds",
    "strategies",
    "protocol",
    "fidelity",
    "data",
    "partition",
    "table_ratios",
    "tables",
    "figures",
    "analysis",
    "federated",
}
_DATA_KEYS = {"lt_img_max", "test_per_class", "multilabel_partition"}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _fidelity_mapping(value: Any) -> dict[str, Any]:
    return {"preset": value} if isinstance(value, str) else dict(value or {})


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _partition_spec(value: Any, where: str) -> dict[str, Any]:
    """A study's ``partition``: a kind's name, or ``{kind: file, path: ...}``."""
    spec = {"kind": value} if isinstance(value, str) else dict(value or {})
    unknown = sorted(set(spec) - {"kind", "path"})
    if unknown:
        raise ConfigError(unknown_keys(where, unknown, {"kind", "path"}))
    kind = spec.get("kind")
    check(
        kind in PARTITION_KINDS,
        f"{where}.kind" if not isinstance(value, str) else where,
        f"unknown partition {kind!r}{did_you_mean(kind, PARTITION_KINDS)}; available: {list(PARTITION_KINDS)}",
    )
    check(
        (kind == "file") == ("path" in spec),
        where,
        "a file partition needs its path ({kind: file, path: ...}); other kinds take none",
    )
    return spec


def _partition_fields(spec: Mapping[str, Any], dataset: str, num_clients: int, where: str) -> dict[str, Any]:
    """The setting fields of a partition: its kind, and for a file the digest and client sizes of its
    lists, read and checked now (before any job runs)."""
    if spec["kind"] != "file":
        return {"partition": spec["kind"]}
    source = DATASETS[dataset].source if dataset in DATASETS else None
    if source is None:
        return {"partition": "file", "partition_digest": "unknown-dataset"}  # the dataset check names it
    try:
        clients = read_partition_file(spec["path"], SOURCES[source].num_train, num_clients)
    except PartitionFileError as exc:
        raise ConfigError(f"{where}.path: {exc}") from None
    return {
        "partition": "file",
        "partition_digest": partition_digest(clients),
        "client_sizes": tuple(len(c) for c in clients),
    }


PROTOCOL_AXES = (*SETTING_AXES, "num_clients")
"""Protocol keys a study may list (one setting per value)."""

MULTILABEL_LOCAL_MODELS = ("last_round",)
"""Local model kinds a multi-label strategy may query with: the clients' own last-round models; local
models trained at query time (scratch, finetune) minimise cross-entropy."""


def _check_multilabel(
    where: str,
    settings: list[SettingConfig],
    strategies: list[StrategyEntry],
    outputs: Mapping[str, tuple[str, ...]],
) -> None:
    """A study of multi-label data (KAFAL Table 4) runs only what has a multi-label form, checked
    before any job runs: methods that declare multi-label scores (every FL update has a multi-label loss),
    last-round local models, and tables and figures that read the mean AUC. Multi-label and single-label data do not mix."""
    multi = {s.dataset for s in settings if DATASETS[s.dataset].multi_label}
    if not multi:
        for key, declared in (("tables", TABLES), ("figures", FIGURES)):
            for item in outputs[key]:
                check(
                    not declared[item].multi_label,
                    f"{where}.{key}",
                    f"{item} reads the mean AUC of multi-label data, and this study's datasets are single-label; "
                    f"use it in a study of {sorted(k for k, d in DATASETS.items() if d.multi_label)}",
                )
        return
    check(
        len(multi) == len({s.dataset for s in settings}),
        f"{where}.datasets",
        f"multi-label {sorted(multi)} and single-label datasets cannot share a study (their metrics differ)",
    )
    named = ", ".join(sorted(multi))
    for strategy in strategies:
        method = METHODS[strategy.method]
        check(
            method.multi_label,
            f"{where}.strategies",
            f"strategy {strategy.name}: method {strategy.method} has no multi-label score, and {named} is "
            f"multi-label; methods that have one: {sorted(m for m, info in METHODS.items() if info.multi_label)}",
        )
        kind = strategy.local_model_kind or ("scratch" if strategy.query_model == "local" else None)
        check(
            kind is None or kind in MULTILABEL_LOCAL_MODELS,
            f"{where}.strategies",
            f"strategy {strategy.name} queries with {kind} local models, trained at query time on single-label "
            f"losses; on multi-label {named} use local_model {list(MULTILABEL_LOCAL_MODELS)} or the global model",
        )
    for key, declared in (("tables", TABLES), ("figures", FIGURES)):
        for item in outputs[key]:
            check(
                declared[item].multi_label,
                f"{where}.{key}",
                f"{item} reports accuracy and cannot show the mean AUC of multi-label {named}; multi-label "
                f"{key}: {sorted(n for n, o in declared.items() if o.multi_label)}",
            )


def resolve_studies(config: Mapping[str, Any]) -> dict[str, Study]:
    """Every study of ``config``, resolved and checked, after checking that ``run_studies`` names them."""
    studies = {name: resolve_study(config, name) for name in config.get("studies") or {}}
    for name in config.get("run_studies") or []:
        if name not in studies:
            raise ConfigError(
                f"run_studies: unknown study {name!r}{did_you_mean(name, studies)}; defined studies: {sorted(studies)}"
            )
    return studies


def _protocol(config: Mapping[str, Any], raw: Mapping[str, Any], where: str) -> tuple[ProtocolConfig, dict, dict]:
    """The study's protocol (top level < named schedule < the study's own keys), its axes (keys a study
    lists: one setting per value) and the merged mapping they were read from."""
    own = raw.get("protocol") or {}
    schedule = own.get("schedule")
    check(
        schedule is None or schedule in FEDERATED_SCHEDULES,
        f"{where}.protocol.schedule",
        f"unknown federated schedule {schedule!r}; available: {sorted(FEDERATED_SCHEDULES)}",
    )
    # A named schedule's values sit between the top-level protocol and the study's own keys.
    base_protocol = _deep_merge(config.get("protocol") or {}, FEDERATED_SCHEDULES.get(schedule or "fairfal", {}))
    merged = _deep_merge(base_protocol, own)
    # Protocol axes: a study may list several values of a key the papers vary (Table 9's backbones,
    # Figure 5's FL algorithms, Figure 6's client counts, KAFAL Fig. 9's participation); each value is its own setting.
    axes = {}
    for key in PROTOCOL_AXES:
        value = own.get(key)
        if isinstance(value, list):
            check(
                len(value) > 0 and len(set(map(str, value))) == len(value),
                f"{where}.protocol.{key}",
                f"needs distinct values, got {value}",
            )
            axes[key] = value
            merged[key] = value[0]
        check(
            not isinstance((config.get("protocol") or {}).get(key), list),
            f"protocol.{key}",
            "a list is allowed only in a study's protocol block (it makes one setting per value)",
        )
    protocol = ProtocolConfig.from_dict(merged, f"{where}.protocol")
    check_protocol(protocol, f"{where}.protocol")
    for key in SETTING_AXES:  # every listed value is checked as the protocol checks its own
        for value in axes.get(key, [])[1:]:
            check_protocol(ProtocolConfig.from_dict({**merged, key: value}, f"{where}.protocol"), f"{where}.protocol")
    return protocol, axes, merged


def _settings(
    raw: Mapping[str, Any], protocol: ProtocolConfig, axes: Mapping[str, list], where: str
) -> tuple[list[SettingConfig], dict[str, Any]]:
    """The study's grid of settings (datasets × ρ × α × clients × protocol axes), each checked and
    feasible under the protocol; and its partition spec."""
    data = dict(raw.get("data") or {})
    unknown = sorted(set(data) - _DATA_KEYS)
    if unknown:
        raise ConfigError(unknown_keys(f"{where}.data", unknown, _DATA_KEYS))
    rhos = _as_list(raw.get("rho", [None]))
    datasets = _as_list(raw["datasets"])
    check(
        "rho" not in raw or any(d not in DATASETS or DATASETS[d].long_tailed for d in datasets),
        f"{where}.rho",
        f"no dataset of this study is long-tailed ({datasets} keep their natural class distribution), so rho "
        f"would be ignored; drop it, or use a long-tailed dataset: "
        f"{sorted(k for k, d in DATASETS.items() if d.long_tailed)}",
    )
    check(
        not ("num_clients" in axes and "num_clients" in raw),
        f"{where}.num_clients",
        "give the client counts once: as num_clients or as protocol.num_clients, not both",
    )
    clients = axes.get("num_clients") or _as_list(raw.get("num_clients", protocol.num_clients))
    partition = _partition_spec(raw.get("partition", "dir_balance"), f"{where}.partition")
    settings = []
    for dataset, rho, alpha, num_clients, *axis_values in itertools.product(
        _as_list(raw["datasets"]),
        rhos,
        _as_list(raw["alpha"]),
        clients,
        *(axes.get(key, [None]) for key in SETTING_AXES),
    ):
        axis_fields = dict(zip(SETTING_AXES, axis_values))
        spec = DATASETS.get(dataset)
        setting_rho = rho if (spec is None or spec.long_tailed) else None
        if setting_rho is None and rho != rhos[0]:
            continue  # a dataset with its natural distribution: one setting whatever the study's rho list
        fields = {
            "dataset": dataset,
            "rho": setting_rho,
            "alpha": alpha,
            "num_clients": num_clients,
            **_partition_fields(partition, dataset, num_clients, f"{where}.partition"),
            "lt_img_max": data.get("lt_img_max") if (spec is not None and spec.long_tailed) else None,
            "test_per_class": data.get("test_per_class"),
            "multilabel_partition": data.get("multilabel_partition"),
            **axis_fields,
        }
        label = f"{where} setting ({dataset}, rho={rho}, alpha={alpha}, K={num_clients}"
        label += "".join(f", {k}={v}" for k, v in axis_fields.items() if v is not None) + ")"
        settings.append(build_setting(fields, label))
    for setting in settings:
        check_feasible(setting, protocol, where)
    ids = [s.id for s in settings]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: duplicate settings {ids}")
    return settings, partition


def _seeds(raw: Mapping[str, Any], where: str) -> list[int]:
    seeds = _as_list(raw["seeds"])
    for seed in seeds:
        check(
            isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
            f"{where}.seeds",
            f"seeds must be integers >= 0, got {seed!r}",
        )
    check(len(set(seeds)) == len(seeds), f"{where}.seeds", f"duplicate seeds in {seeds}")
    return seeds


def _strategies(
    config: Mapping[str, Any],
    raw: Mapping[str, Any],
    protocol: ProtocolConfig,
    settings: list[SettingConfig],
    where: str,
) -> list[StrategyEntry]:
    """The study's strategies, each with the study's default FL update where it brings none, checked
    against the study's protocol and models."""
    known = resolve_strategies(config)
    names = _as_list(raw["strategies"])
    check(len(names) > 0, f"{where}.strategies", "at least one strategy is needed")
    for strategy_name in names:
        check(
            strategy_name in known,
            f"{where}.strategies",
            f"unknown strategy {strategy_name!r}{did_you_mean(strategy_name, known)}; defined under strategies: "
            f"{sorted(known)}",
        )
    check(len(set(names)) == len(names), f"{where}.strategies", f"duplicate strategies in {names}")
    study_federated = raw.get("federated")
    if study_federated is not None:
        # The study's default FL update for strategies that bring none (the KAFAL paper trains every
        # method with KCFU): a strategy's own ``federated`` block still wins.
        check(isinstance(study_federated, dict), f"{where}.federated", "must be a mapping")
        for strategy_name in names:
            if not known[strategy_name].federated:
                known[strategy_name] = dataclasses.replace(known[strategy_name], federated=dict(study_federated))
                known[strategy_name].validate(f"{where}.federated (strategy {strategy_name})")
    strategies = [known[n] for n in names]
    for strategy in strategies:
        check(
            strategy.update == "fedavg" or all(s.protocol(protocol).fl_algorithm == "fedavg" for s in settings),
            f"{where}.protocol.fl_algorithm",
            f"strategy {strategy.name} trains with its own local update ({strategy.update}), which runs on FedAvg "
            f"aggregation; use fl_algorithm: fedavg in this study or drop {strategy.name}",
        )
        if METHODS[strategy.method].trains_with:
            for setting in settings:
                model = setting.protocol(protocol).model
                check(
                    model in CONVOLUTIONAL_MODELS,
                    f"{where}.strategies",
                    f"strategy {strategy.name} trains a module with the model that taps feature maps; model "
                    f"{model} has none (use one of {sorted(CONVOLUTIONAL_MODELS)} or drop {strategy.name})",
                )
    return strategies


def _outputs(raw: Mapping[str, Any], name: str, where: str) -> dict[str, tuple[str, ...]]:
    """The paper tables and figures the study declares, each known and listed once."""
    check(
        name not in RESERVED_STUDY_NAMES,
        f"studies.{name}",
        f"the study names {sorted(RESERVED_STUDY_NAMES)} are reserved for report folders",
    )
    outputs = {}
    for key, known_names in (("tables", TABLES), ("figures", FIGURES)):
        names = _as_list(raw.get(key, []))
        for item in names:
            check(
                item in known_names,
                f"{where}.{key}",
                f"unknown {key[:-1]} {item!r}{did_you_mean(item, known_names)}; available: {sorted(known_names)}",
            )
        check(len(set(names)) == len(names), f"{where}.{key}", f"duplicates in {names}")
        outputs[key] = tuple(names)
    return outputs


def _analysis(
    raw: Mapping[str, Any],
    outputs: Mapping[str, tuple],
    strategies: list[StrategyEntry],
    protocol: ProtocolConfig,
    where: str,
) -> AnalysisConfig:
    analysis = build_config(AnalysisConfig, raw.get("analysis"), f"{where}.analysis")
    if "kafal_table1" in outputs["tables"]:
        names = [s.name for s in strategies]
        reference = analysis.reference_strategy
        check(
            reference in names,
            f"{where}.analysis.reference_strategy",
            f"kafal_table1 needs the strategy whose accuracy the others must reach, one of {names}; "
            f"got {reference!r}{did_you_mean(reference, names)}",
        )
        check(
            analysis.reference_round <= protocol.rounds,
            f"{where}.analysis.reference_round",
            f"({analysis.reference_round}) must be <= protocol.rounds ({protocol.rounds})",
        )
    return analysis


def resolve_study(config: Mapping[str, Any], name: str) -> Study:
    """Resolve ``config['studies'][name]`` against the top-level defaults into a validated Study."""
    studies = config.get("studies") or {}
    if name not in studies:
        raise ConfigError(f"run_studies: unknown study {name!r}; defined studies: {sorted(studies)}")
    where = f"studies.{name}"
    raw = studies[name] or {}
    unknown = sorted(set(raw) - _STUDY_KEYS)
    if unknown:
        raise ConfigError(unknown_keys(where, unknown, _STUDY_KEYS))
    for key in ("datasets", "alpha", "seeds", "strategies"):
        if key not in raw:
            raise ConfigError(f"{where}: missing required key {key!r}")
    protocol, axes, _ = _protocol(config, raw, where)
    # A study's fidelity block merges into the top-level one, like protocol (a bare preset name is {preset: name}).
    fidelity = FidelityConfig.from_dict(
        _deep_merge(_fidelity_mapping(config.get("fidelity")), _fidelity_mapping(raw.get("fidelity"))),
        f"{where}.fidelity",
    )
    settings, partition = _settings(raw, protocol, axes, where)
    seeds = _seeds(raw, where)
    strategies = _strategies(config, raw, protocol, settings, where)
    outputs = _outputs(raw, name, where)
    _check_multilabel(where, settings, strategies, outputs)
    table_ratios = raw.get("table_ratios")
    return Study(
        name=name,
        description=str(raw.get("description", "")),
        settings=tuple(settings),
        seeds=tuple(seeds),
        strategies=tuple(strategies),
        protocol=protocol,
        fidelity=fidelity,
        table_ratios=None if table_ratios is None else tuple(float(r) for r in _as_list(table_ratios)),
        tables=outputs["tables"],
        figures=outputs["figures"],
        analysis=_analysis(raw, outputs, strategies, protocol, where),
        uses_paper_protocol=runs_paper_constants(protocol)
        and all(s.lt_img_max is None and s.test_per_class is None for s in settings),
        partition_path=str(partition["path"]) if partition["kind"] == "file" else None,
    )


def changed_from(study: Study, base: Study | None) -> str:
    """What a command-line or --configfile override changed in ``study`` against config.yaml's own
    version of it (``base``), in words; "" when nothing did. A study's description is config.yaml's text,
    so a caption must say when the run was not what it describes."""
    if base is None:
        return "Defined outside config.yaml."
    changes = []
    ours, theirs = dataclasses.asdict(study.protocol), dataclasses.asdict(base.protocol)
    changes += [f"protocol.{key} {theirs[key]} → {ours[key]}" for key in ours if ours[key] != theirs[key]]
    ours, theirs = dataclasses.asdict(study.fidelity), dataclasses.asdict(base.fidelity)
    changes += [f"fidelity.{key} {theirs[key]} → {ours[key]}" for key in ours if ours[key] != theirs[key]]
    # What the numbers come from; not which outputs the study writes (adding a table changes no other
    # table, so its caption stays and nothing else reruns).
    for key in ("seeds",):
        if getattr(study, key) != getattr(base, key):
            changes.append(f"{key} {list(getattr(base, key))} → {list(getattr(study, key))}")
    if [s.name for s in study.strategies] != [s.name for s in base.strategies] or study.strategies != base.strategies:
        changes.append("strategies " + ", ".join(s.name for s in study.strategies))
    if [s.id for s in study.settings] != [s.id for s in base.settings]:
        changes.append("settings " + "; ".join(s.id for s in study.settings))
    return ("Changed from config.yaml's study: " + "; ".join(changes) + ".") if changes else ""


def with_overrides_noted(studies: Mapping[str, Study], base_config: Mapping[str, Any]) -> dict[str, Study]:
    """``studies`` with a note of what the overrides changed appended to each changed one's description."""
    base = {}
    for name in studies:
        try:
            base[name] = resolve_study(base_config, name) if name in (base_config.get("studies") or {}) else None
        except ConfigError:
            base[name] = None  # config.yaml's version does not resolve on its own: the override completes it
    out = {}
    for name, study in studies.items():
        note = changed_from(study, base[name])
        description = f"{study.description.strip()} {note}".strip() if note else study.description
        out[name] = dataclasses.replace(study, description=description)
    return out
