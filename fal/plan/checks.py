"""Checks of the typed configurations against the catalogs, before any job runs (each message names
the key path, the bad value and what is allowed)."""

from __future__ import annotations

from fal.config.base import build_config, check, did_you_mean, is_number
from fal.config.budgets import client_budgets
from fal.config.datasets import longtail_counts
from fal.config.partition_file import PARTITION_KINDS
from fal.config.protocol import MODELS, ProtocolConfig
from fal.config.setting import MULTILABEL_PARTITION_RULES, SettingConfig
from fal.plan.catalog import DATASETS, SOURCES, protocol_algorithms
from fal.plan.schedules import SCHEDULES


def check_protocol(protocol: ProtocolConfig, where: str) -> None:
    """What ``ProtocolConfig.validate`` cannot check without the catalogs: the FL algorithm and the schedule."""
    choices = protocol_algorithms()
    check(
        protocol.fl_algorithm in choices,
        f"{where}.fl_algorithm",
        f"must be one of {list(choices)}, got {protocol.fl_algorithm!r}{did_you_mean(protocol.fl_algorithm, choices)}",
    )
    check(
        protocol.schedule in SCHEDULES,
        f"{where}.schedule",
        f"unknown federated schedule {protocol.schedule!r}; available: {list(SCHEDULES)}",
    )


def check_setting(setting: SettingConfig, where: str) -> None:
    """Every problem of a setting against the catalogs and its own fields, naming the key."""
    check(
        setting.dataset in DATASETS,
        f"{where}.dataset",
        f"unknown dataset {setting.dataset!r}{did_you_mean(setting.dataset, DATASETS)}; available: {sorted(DATASETS)}",
    )
    spec = DATASETS[setting.dataset]
    if spec.long_tailed:
        check(
            setting.rho is not None and is_number(setting.rho) and setting.rho >= 1,
            f"{where}.rho",
            f"dataset {setting.dataset} is long-tailed and needs rho >= 1, got {setting.rho!r}",
        )
    else:
        check(
            setting.rho is None,
            f"{where}.rho",
            f"dataset {setting.dataset} keeps its natural class distribution; rho must not be set (got {setting.rho!r})",
        )
        check(
            setting.lt_img_max is None,
            f"{where}.lt_img_max",
            f"only long-tailed datasets take lt_img_max (dataset {setting.dataset})",
        )
    check(
        is_number(setting.alpha) and setting.alpha > 0,
        f"{where}.alpha",
        f"Dirichlet alpha must be > 0, got {setting.alpha!r}",
    )
    check(
        isinstance(setting.num_clients, int) and setting.num_clients >= 1,
        f"{where}.num_clients",
        f"must be an integer >= 1, got {setting.num_clients!r}",
    )
    check(
        setting.partition in PARTITION_KINDS,
        f"{where}.partition",
        f"unknown partition {setting.partition!r}; available: {sorted(PARTITION_KINDS)}",
    )
    if setting.partition == "file":
        check(
            setting.partition_digest is not None,
            f"{where}.partition",
            "a file partition is given as {kind: file, path: <your copy of the file>}",
        )
        check(
            not spec.long_tailed,
            f"{where}.partition",
            f"a partition file indexes the source's whole training set; use {spec.source}, not {setting.dataset}",
        )
    if setting.lt_img_max is not None:
        check(
            is_number(setting.lt_img_max) and setting.lt_img_max >= 1,
            f"{where}.lt_img_max",
            f"must be >= 1, got {setting.lt_img_max!r}",
        )
    if setting.model is not None:
        check(setting.model in MODELS, f"{where}.model", f"unknown model {setting.model!r}; available: {list(MODELS)}")
    if setting.fl_algorithm is not None:
        check(
            setting.fl_algorithm in protocol_algorithms(),
            f"{where}.fl_algorithm",
            f"unknown FL algorithm {setting.fl_algorithm!r}; available: {list(protocol_algorithms())}",
        )
    if setting.multilabel_partition is not None:
        check(
            spec.multi_label and setting.multilabel_partition in MULTILABEL_PARTITION_RULES,
            f"{where}.multilabel_partition",
            f"one of {list(MULTILABEL_PARTITION_RULES)}, for a multi-label dataset only "
            f"(got {setting.multilabel_partition!r} for {setting.dataset})",
        )
    if setting.test_per_class is not None:
        check(
            isinstance(setting.test_per_class, int) and setting.test_per_class >= 1,
            f"{where}.test_per_class",
            f"must be an integer >= 1, got {setting.test_per_class!r}",
        )


def training_images(setting: SettingConfig) -> int:
    """Training-subset size implied by the dataset, rho and lt_img_max."""
    spec = DATASETS[setting.dataset]
    counts = SOURCES[spec.source].train_counts
    if spec.long_tailed:
        assert setting.rho is not None  # validate() requires it for long-tailed datasets
        return sum(longtail_counts(sum(counts), len(counts), setting.rho, setting.lt_img_max))
    return SOURCES[spec.source].num_train


def check_feasible(setting: SettingConfig, protocol: ProtocolConfig, where: str) -> None:
    """Fail before anything runs when the data cannot support the protocol."""
    source = DATASETS[setting.dataset].source
    if setting.lt_img_max is not None:
        most = max(SOURCES[source].train_counts)
        check(
            setting.lt_img_max <= most,
            f"{where}.data.lt_img_max",
            f"{setting.lt_img_max:g} exceeds the {most} training images per class of {source}",
        )
    if setting.test_per_class is not None and SOURCES[source].test_counts:  # a multi-label source has none
        fewest = min(SOURCES[source].test_counts)
        check(
            setting.test_per_class <= fewest,
            f"{where}.data.test_per_class",
            f"{setting.test_per_class} exceeds the {fewest} test images of {source}'s smallest class",
        )
    num_train = training_images(setting)
    num_cycles = protocol.num_cycles()
    sizes = expected_client_sizes(setting)
    budgets = client_budgets(protocol.budget_rule, num_train, sizes, protocol.initial_ratio, protocol.query_ratio)
    check(
        min(budgets.initial) >= 1 and min(budgets.query) >= 1,
        f"{where}.protocol",
        f"setting {setting.id}: {num_train} training images over {setting.num_clients} clients give an empty per-client "
        f"budget (initial {min(budgets.initial)}, query {min(budgets.query)}); raise initial_ratio/query_ratio or use "
        f"fewer clients",
    )
    for client, size in enumerate(sizes):
        needed = budgets.labelled(client, num_cycles)
        holder = f"client {client}" if setting.client_sizes is not None else "the smallest client"
        check(
            needed <= size,
            f"{where}.protocol.end_ratio",
            f"setting {setting.id}: {holder} holds {size} images ({setting.partition}) but {num_cycles} cycles label "
            f"{budgets.initial[client]} + {budgets.query[client]} × {num_cycles - 1} = {needed}; "
            f"lower end_ratio or query_ratio",
        )


def expected_client_sizes(setting: SettingConfig) -> tuple[int, ...]:
    """Each client's training images: the file's, else the smallest the partition can give (FairFAL's
    equal split; LoGo's caps clients at ceil(N/K) and tops up the small ones, §1.5, so the smallest
    holds at least N − (K−1)·ceil(N/K))."""
    if setting.client_sizes is not None:
        return setting.client_sizes
    num_train, k = training_images(setting), setting.num_clients
    smallest = num_train // k
    if setting.partition == "dir_balance_logo":
        smallest = num_train - (k - 1) * -(-num_train // k)
    return (smallest,) * k


def build_setting(mapping: dict, where: str) -> SettingConfig:
    """A checked setting from its fields (unknown keys and bad values named at ``where``)."""
    setting = build_config(SettingConfig, mapping, where)
    check_setting(setting, where)
    return setting
