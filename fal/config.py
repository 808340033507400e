"""Typed configuration: settings, protocol, fidelity switches, strategies, studies.

``config.yaml`` is validated twice: structurally by the JSON schema in ``workflow/schemas`` (inside
Snakemake, at parse time), and semantically here, with messages that name the offending key. This
module imports no torch, so the Snakefile can use it cheaply.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.data.datasets import DATASETS
from fal.federated.algorithms.registry import PROTOCOL_ALGORITHMS


class ConfigError(ValueError):
    """A configuration value is missing, unknown, out of range, or inconsistent."""


def _build(cls, mapping: Mapping[str, Any] | None, where: str):
    """Construct a dataclass from a mapping, rejecting unknown keys with the full key path."""
    mapping = dict(mapping or {})
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    try:
        obj = cls(**mapping)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    obj.validate(where)
    return obj


def _check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{where}: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalModelConfig:
    """Local-only query model trained from a shared random init (reference-spec §5.1)."""

    epochs: int = 50
    stop_train_acc: float = 0.99
    lr_milestone: int = 37
    """Optimizer steps (or epochs, see fidelity.local_lr_milestone_unit) after which lr is ×lr_decay."""

    def validate(self, where: str) -> None:
        _check(
            isinstance(self.epochs, int) and self.epochs >= 1,
            f"{where}.epochs",
            f"must be an integer >= 1, got {self.epochs!r}",
        )
        _check(
            _number(self.stop_train_acc) and 0 < self.stop_train_acc <= 1.0,
            f"{where}.stop_train_acc",
            f"must be in (0, 1], got {self.stop_train_acc!r}",
        )
        _check(
            isinstance(self.lr_milestone, int) and self.lr_milestone >= 0,
            f"{where}.lr_milestone",
            f"must be an integer >= 0, got {self.lr_milestone!r}",
        )


@dataclass(frozen=True)
class ProtocolConfig:
    """Federated training and AL budget protocol (reference-spec §2, §4.1). Defaults are the paper's."""

    num_clients: int = 10
    client_fraction: float = 1.0
    rounds: int = 100
    local_epochs: int = 5
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_decay: float = 0.1
    lr_decay_at: float = 0.75
    initial_ratio: float = 0.05
    query_ratio: float = 0.05
    end_ratio: float = 0.45
    model: str = "cnn4conv"
    fl_algorithm: str = "fedavg"
    """An algorithm of fal/federated/algorithms/registry.py chosen by the protocol (FL_ALGORITHMS)."""
    fedprox_mu: float = 0.01
    """FedProx's μ; the official default (the paper does not state it). Used only by fedprox."""
    local_model: LocalModelConfig = field(default_factory=LocalModelConfig)

    def validate(self, where: str) -> None:
        for key in ("num_clients", "rounds", "local_epochs", "batch_size"):
            value = getattr(self, key)
            _check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{where}.{key}",
                f"must be an integer >= 1, got {value!r}",
            )
        for key in ("lr", "lr_decay"):
            value = getattr(self, key)
            _check(_number(value) and value > 0, f"{where}.{key}", f"must be > 0, got {value!r}")
        for key in ("momentum", "weight_decay"):
            value = getattr(self, key)
            _check(_number(value) and value >= 0, f"{where}.{key}", f"must be >= 0, got {value!r}")
        for key in ("client_fraction", "lr_decay_at", "initial_ratio", "query_ratio", "end_ratio"):
            value = getattr(self, key)
            _check(_number(value) and 0 < value <= 1, f"{where}.{key}", f"must be in (0, 1], got {value!r}")
        _check(
            self.end_ratio >= self.initial_ratio,
            f"{where}.end_ratio",
            f"({self.end_ratio}) must be >= initial_ratio ({self.initial_ratio})",
        )
        _check(self.model in MODELS, f"{where}.model", f"unknown model {self.model!r}; available: {sorted(MODELS)}")
        _check(
            self.fl_algorithm in FL_ALGORITHMS,
            f"{where}.fl_algorithm",
            f"must be one of {list(FL_ALGORITHMS)}, got {self.fl_algorithm!r}",
        )
        _check(
            _number(self.fedprox_mu) and self.fedprox_mu >= 0,
            f"{where}.fedprox_mu",
            f"must be >= 0, got {self.fedprox_mu!r}",
        )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None, where: str = "protocol") -> ProtocolConfig:
        mapping = dict(mapping or {})
        local = _build(LocalModelConfig, mapping.pop("local_model", None), f"{where}.local_model")
        obj = _build(cls, mapping, where)
        return dataclasses.replace(obj, local_model=local)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def num_cycles(self) -> int:
        from fal.data.budgets import cycle_ratios

        return len(cycle_ratios(self.initial_ratio, self.query_ratio, self.end_ratio))


MODELS = {"cnn4conv", "mobilenet", "resnet18", "kafal_resnet8"}
"""Models of reference-spec §3.1–§3.4 (built by fal.federated.models.build_model)."""
FL_ALGORITHMS = PROTOCOL_ALGORITHMS
"""Choices of protocol.fl_algorithm, from the algorithm registry (fal/federated/algorithms/registry.py)."""


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FidelityConfig:
    """Switches between the official code's behaviour ("faithful") and the corrected/paper behaviour.

    Each switch names one documented deviation (reference-spec §11). ``preset`` sets them all; explicit
    keys override single switches.
    """

    preset: str = "faithful"
    lt_query_view_mismatch: bool = True
    """§1.3: the LT train and query views are two different random subsets (same class blocks)."""
    partition_seed: str = "fixed"
    """§1.4: "fixed" = the official partition with internal seed 0 for every run seed; "run" = from the run seed."""
    shared_cycle1_init: bool = True
    """§1.4: the official torch reseed makes cycle 1's model init identical across run seeds."""
    fl_lr_decay: str = "official"
    """§4.1: "official" decays for rounds r > int(0.75·R) (0-based); "paper" for r >= int(0.75·R)."""
    local_lr_milestone_unit: str = "step"
    """§5.1: the local-only model's MultiStepLR is stepped per mini-batch ("step") or per epoch."""
    fairfal_m2_model: str = "official"
    """§6.13.3: gradient-embedding probabilities from L_k when γ̄ ≥ 0.5 ("official") or always from G ("paper")."""
    fairfal_prototype_similarity: str = "cosine"
    """§6.13.6: cosine to renormalised prototypes (code) or inner product with the mean of unit vectors (Eq. 10)."""
    fairfal_gamma_bar: str = "first_query"
    """§6.13.6: γ̄ fixed at the first query (code, kept in a file) or recomputed at every query."""
    pool_order: str = "official"
    """§6.0: the unlabelled pool (and so the stored labelled lists) in the official code's CPython set
    order ("official") or ascending ("ascending"). Not only a tie-breaker: FairFAL's class-balanced
    resampling draws by list position."""

    def validate(self, where: str) -> None:
        _check(
            self.preset in FIDELITY_PRESETS,
            f"{where}.preset",
            f"must be one of {sorted(FIDELITY_PRESETS)}, got {self.preset!r}",
        )
        for key, allowed in _FIDELITY_CHOICES.items():
            value = getattr(self, key)
            _check(value in allowed, f"{where}.{key}", f"must be one of {sorted(map(str, allowed))}, got {value!r}")

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | str | None, where: str = "fidelity") -> FidelityConfig:
        if isinstance(mapping, str):
            mapping = {"preset": mapping}
        mapping = dict(mapping or {})
        preset = mapping.get("preset", "faithful")
        if preset not in FIDELITY_PRESETS:
            raise ConfigError(f"{where}.preset: must be one of {sorted(FIDELITY_PRESETS)}, got {preset!r}")
        merged = {**FIDELITY_PRESETS[preset], **mapping, "preset": preset}
        return _build(cls, merged, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIDELITY_CHOICES: dict[str, tuple] = {
    "lt_query_view_mismatch": (True, False),
    "partition_seed": ("fixed", "run"),
    "shared_cycle1_init": (True, False),
    "fl_lr_decay": ("official", "paper"),
    "local_lr_milestone_unit": ("step", "epoch"),
    "fairfal_m2_model": ("official", "paper"),
    "fairfal_prototype_similarity": ("cosine", "inner"),
    "fairfal_gamma_bar": ("first_query", "every_query"),
    "pool_order": ("official", "ascending"),
}

FIDELITY_PRESETS: dict[str, dict[str, Any]] = {
    "faithful": {
        "lt_query_view_mismatch": True,
        "partition_seed": "fixed",
        "shared_cycle1_init": True,
        "fl_lr_decay": "official",
        "local_lr_milestone_unit": "step",
        "fairfal_m2_model": "official",
        "fairfal_prototype_similarity": "cosine",
        "fairfal_gamma_bar": "first_query",
        "pool_order": "official",
    },
    "corrected": {
        "lt_query_view_mismatch": False,
        "partition_seed": "run",
        "shared_cycle1_init": False,
        "fl_lr_decay": "paper",
        "local_lr_milestone_unit": "step",
        "fairfal_m2_model": "paper",
        "fairfal_prototype_similarity": "cosine",
        "fairfal_gamma_bar": "first_query",
        "pool_order": "ascending",
    },
}


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingConfig:
    """One data setting: dataset, imbalance, heterogeneity, number of clients, and data reductions."""

    dataset: str
    alpha: float
    num_clients: int = 10
    rho: float | None = None
    partition: str = "dir_balance"
    lt_img_max: float | None = None
    """Head-class size of the long tail; None = N_train / C (the paper). Smaller = reduced protocol."""
    test_per_class: int | None = None
    """Evaluate on the first n test images of each class; None = the full test set (the paper)."""

    def validate(self, where: str) -> None:
        _check(
            self.dataset in DATASETS,
            f"{where}.dataset",
            f"unknown dataset {self.dataset!r}; available: {sorted(DATASETS)}",
        )
        spec = DATASETS[self.dataset]
        if spec.long_tailed:
            _check(
                _number(self.rho) and self.rho >= 1,
                f"{where}.rho",
                f"dataset {self.dataset} is long-tailed and needs rho >= 1, got {self.rho!r}",
            )
        else:
            _check(
                self.rho is None,
                f"{where}.rho",
                f"dataset {self.dataset} keeps its natural class distribution; rho must not be set (got {self.rho!r})",
            )
            _check(
                self.lt_img_max is None,
                f"{where}.lt_img_max",
                f"only long-tailed datasets take lt_img_max (dataset {self.dataset})",
            )
        _check(
            _number(self.alpha) and self.alpha > 0, f"{where}.alpha", f"Dirichlet alpha must be > 0, got {self.alpha!r}"
        )
        _check(
            isinstance(self.num_clients, int) and self.num_clients >= 1,
            f"{where}.num_clients",
            f"must be an integer >= 1, got {self.num_clients!r}",
        )
        _check(
            self.partition in PARTITIONS,
            f"{where}.partition",
            f"unknown partition {self.partition!r}; available: {sorted(PARTITIONS)}",
        )
        if self.lt_img_max is not None:
            _check(
                _number(self.lt_img_max) and self.lt_img_max >= 1,
                f"{where}.lt_img_max",
                f"must be >= 1, got {self.lt_img_max!r}",
            )
        if self.test_per_class is not None:
            _check(
                isinstance(self.test_per_class, int) and self.test_per_class >= 1,
                f"{where}.test_per_class",
                f"must be an integer >= 1, got {self.test_per_class!r}",
            )

    def num_train(self) -> int:
        """Training-subset size implied by the dataset, rho and lt_img_max."""
        from fal.data.datasets import SOURCE_TRAIN_COUNTS
        from fal.data.longtail import longtail_counts

        spec = DATASETS[self.dataset]
        counts = SOURCE_TRAIN_COUNTS[spec.source]
        if spec.long_tailed:
            return sum(longtail_counts(sum(counts), len(counts), self.rho, self.lt_img_max))
        return sum(counts)

    def check_feasible(self, protocol: ProtocolConfig, where: str) -> None:
        """Fail before anything runs when the data cannot support the protocol."""
        from fal.data.budgets import compute_budget
        from fal.data.datasets import SOURCE_TEST_COUNTS, SOURCE_TRAIN_COUNTS

        source = DATASETS[self.dataset].source
        if self.lt_img_max is not None:
            most = max(SOURCE_TRAIN_COUNTS[source])
            _check(
                self.lt_img_max <= most,
                f"{where}.data.lt_img_max",
                f"{self.lt_img_max:g} exceeds the {most} training images per class of {source}",
            )
        if self.test_per_class is not None:
            fewest = min(SOURCE_TEST_COUNTS[source])
            _check(
                self.test_per_class <= fewest,
                f"{where}.data.test_per_class",
                f"{self.test_per_class} exceeds the {fewest} test images of {source}'s smallest class",
            )
        num_train = self.num_train()
        budget = compute_budget(
            num_train, self.num_clients, protocol.initial_ratio, protocol.query_ratio, protocol.end_ratio
        )
        pool = num_train // self.num_clients
        needed = budget.per_client_initial + budget.per_client_query * (budget.num_cycles - 1)
        _check(
            budget.per_client_initial >= 1 and budget.per_client_query >= 1,
            f"{where}.protocol",
            f"setting {self.id}: {num_train} training images over {self.num_clients} clients give an empty per-client "
            f"budget (initial {budget.per_client_initial}, query {budget.per_client_query}); raise initial_ratio/query_ratio or use fewer clients",
        )
        if self.partition == "dir_balance":
            _check(
                needed <= pool,
                f"{where}.protocol.end_ratio",
                f"setting {self.id}: each client holds {pool} images but {budget.num_cycles} cycles label "
                f"{budget.per_client_initial} + {budget.per_client_query} × {budget.num_cycles - 1} = {needed}; lower end_ratio or query_ratio",
            )

    @property
    def id(self) -> str:
        """Path-safe name, e.g. ``fmnist_lt-rho20-alpha0.1-K10``."""
        parts = [self.dataset]
        if self.rho is not None:
            parts.append(f"rho{self.rho:g}")
        parts += [f"alpha{self.alpha:g}", f"K{self.num_clients}"]
        if self.partition != "dir_balance":
            parts.append(self.partition)
        if self.lt_img_max is not None:
            parts.append(f"max{self.lt_img_max:g}")
        if self.test_per_class is not None:
            parts.append(f"test{self.test_per_class}")
        return "-".join(parts)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], where: str = "setting") -> SettingConfig:
        return _build(cls, mapping, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PARTITIONS = {"dir_balance", "dir_balance_logo"}


# --------------------------------------------------------------------------------------------------


LOCAL_MODEL_KINDS = ("scratch", "last_round", "finetune")
"""The L query model (reference-spec §5): trained from a shared random init (§5.1), the client's model
after its local training in the cycle's last FL round (§5.3, the IFAL repo's), or fine-tuned from the
global model (§5.2, LoGo's ``ft_*``)."""

STRATEGY_FL_UPDATES: dict[str, dict[str, Any]] = {
    "fedavg": {},
    # KAFAL's KCFU local update (reference-spec §7.1-§7.2, fal/federated/kcfu.py); defaults = official code.
    "kcfu": {
        "nu": 0.5,  # paper's trade-off ν (only used by combination "convex")
        "combination": "sum",  # sum: client + compensation (code) | convex: ν·client + (1-ν)·compensation (paper)
        "mix_partner": "batch",  # batch: one partner index per batch (code) | sample: one per sample (paper)
        "gamma_weights": "normalised",  # normalised: N/n_c over present classes, summed to 1 (code) | ratio: N/n_c (paper)
        "gamma_labels": "mixed",  # mixed: teacher argmax on mixed inputs (code) | unmixed: on x1', x2' (paper)
        "kl_reduction": "class_mean",  # class_mean: KL/C (code) | sum: KL (paper)
        "beta": 2.0,  # mixing weight β ~ Beta(beta, beta)
        "all_clients_last_round": True,  # every client trains in the last round (code), whatever client_fraction
        "train_cycle1": True,  # cycle 1 trained with KCFU too (code and paper); false = the shared FedAvg cycle 1
    },
}
_FL_CHOICES: dict[str, tuple] = {
    "combination": ("sum", "convex"),
    "mix_partner": ("batch", "sample"),
    "gamma_weights": ("normalised", "ratio"),
    "gamma_labels": ("mixed", "unmixed"),
    "kl_reduction": ("class_mean", "sum"),
    "all_clients_last_round": (True, False),
    "train_cycle1": (True, False),
}


@dataclass(frozen=True)
class StrategyConfig:
    """A named query strategy: a registered method, its query model (G/L), options, the kind of its
    local query model and the federated algorithm that trains its cycles."""

    name: str
    method: str
    query_model: str | None = None
    label: str | None = None
    """Display name in tables (defaults to the method's)."""
    options: dict[str, Any] = field(default_factory=dict)
    local_model: str | None = None
    """scratch | last_round | finetune (§5); None = the method's default (scratch for L-selectors)."""
    federated: dict[str, Any] = field(default_factory=dict)
    """{"algorithm": fedavg | kcfu, ...options}; empty = plain FedAvg (§4.1)."""

    def validate(self, where: str) -> None:
        from fal.strategies.registry import METHODS

        _check(
            bool(STRATEGY_NAME.fullmatch(self.name)) and self.name != "init",
            where,
            f"strategy name {self.name!r} must match {STRATEGY_NAME.pattern} and not be 'init'",
        )
        _check(
            self.method in METHODS, f"{where}.method", f"unknown method {self.method!r}; available: {sorted(METHODS)}"
        )
        info = METHODS[self.method]
        if info.query_models:
            _check(
                self.query_model in info.query_models,
                f"{where}.query_model",
                f"method {self.method} needs query_model in {list(info.query_models)}, got {self.query_model!r}",
            )
        else:
            _check(
                self.query_model is None,
                f"{where}.query_model",
                f"method {self.method} takes no query_model (got {self.query_model!r})",
            )
        _check(isinstance(self.options, dict), f"{where}.options", "must be a mapping")
        unknown = sorted(set(self.options) - set(info.options))
        _check(
            not unknown,
            f"{where}.options",
            f"unknown option(s) {unknown} for method {self.method}; allowed: {sorted(info.options)}",
        )
        if self.local_model is not None:
            _check(
                self.local_model in LOCAL_MODEL_KINDS,
                f"{where}.local_model",
                f"must be one of {list(LOCAL_MODEL_KINDS)}, got {self.local_model!r}",
            )
            _check(
                self.uses_local_model,
                f"{where}.local_model",
                f"method {self.method} with query_model {self.query_model!r} uses no local model; drop local_model or use query_model: local",
            )
        _check(isinstance(self.federated, dict), f"{where}.federated", "must be a mapping")
        algorithm = self.federated.get("algorithm", "fedavg")
        _check(
            algorithm in STRATEGY_FL_UPDATES,
            f"{where}.federated.algorithm",
            f"must be one of {sorted(STRATEGY_FL_UPDATES)}, got {algorithm!r}",
        )
        allowed = STRATEGY_FL_UPDATES.get(algorithm, {})
        unknown = sorted(set(self.federated) - set(allowed) - {"algorithm"})
        _check(
            not unknown,
            f"{where}.federated",
            f"unknown option(s) {unknown} for algorithm {algorithm}; allowed: {sorted(allowed)}",
        )
        for key, value in self.federated.items():
            if key in _FL_CHOICES:
                _check(
                    value in _FL_CHOICES[key],
                    f"{where}.federated.{key}",
                    f"must be one of {list(_FL_CHOICES[key])}, got {value!r}",
                )
        for key in ("nu",):
            if key in self.federated:
                value = self.federated[key]
                _check(
                    _number(value) and 0 <= value <= 1, f"{where}.federated.{key}", f"must be in [0, 1], got {value!r}"
                )
        if "beta" in self.federated:
            value = self.federated["beta"]
            _check(_number(value) and value > 0, f"{where}.federated.beta", f"must be > 0, got {value!r}")

    @property
    def uses_local_model(self) -> bool:
        """Whether the method queries with a per-client local model (an L-selector, or a method that
        always uses one, such as FairFAL, KSAS and IFAL)."""
        from fal.strategies.registry import METHODS

        info = METHODS[self.method]
        return self.query_model == "local" or info.local_model is not None

    @property
    def local_model_kind(self) -> str | None:
        """The resolved local query model kind, or None when the strategy uses none."""
        from fal.strategies.registry import METHODS

        if not self.uses_local_model:
            return None
        return self.local_model or METHODS[self.method].local_model or "scratch"

    @property
    def needs_client_models(self) -> bool:
        """Whether the query reads the training stage's last-round client models (§5.3)."""
        return self.local_model_kind == "last_round"

    def resolved_federated(self) -> dict[str, Any]:
        """The training algorithm of this strategy's cycles with every option filled in."""
        algorithm = self.federated.get("algorithm", "fedavg")
        return {
            "algorithm": algorithm,
            **STRATEGY_FL_UPDATES[algorithm],
            **{k: v for k, v in self.federated.items() if k != "algorithm"},
        }

    @property
    def trains_own_cycle1(self) -> bool:
        """Whether cycle 1 is trained for this strategy alone (not the shared FedAvg arm "init")."""
        fl = self.resolved_federated()
        return fl["algorithm"] != "fedavg" and bool(fl.get("train_cycle1", False))

    @property
    def selector(self) -> str:
        """The table's "Sel" column: G, L, or G, L for methods that use both models."""
        from fal.strategies.registry import METHODS

        if self.query_model:
            return {"global": "G", "local": "L"}[self.query_model]
        return METHODS[self.method].selector

    @property
    def display_name(self) -> str:
        from fal.strategies.registry import METHODS

        return self.label or METHODS[self.method].label

    @property
    def variant(self) -> str:
        """Options that differ from the method's defaults, e.g. "kappa=2" (how tables tell option sweeps apart)."""
        from fal.strategies.registry import METHODS

        defaults = METHODS[self.method].options
        parts = []
        for key in sorted(self.options):
            value = self.options[key]
            if defaults.get(key) == value:
                continue
            parts.append(f"{key}={value:g}" if _number(value) else f"{key}={value}")
        return ",".join(parts)

    def resolved_options(self) -> dict[str, Any]:
        from fal.strategies.registry import METHODS

        return {**METHODS[self.method].options, **self.options}

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict; unset local_model/federated are left out so that adding those fields
        changed no existing strategy's rule params (and reran nothing)."""
        out = dataclasses.asdict(self)
        if out["local_model"] is None:
            del out["local_model"]
        if not out["federated"]:
            del out["federated"]
        return out

    @classmethod
    def from_dict(cls, name: str, mapping: Mapping[str, Any], where: str) -> StrategyConfig:
        return _build(cls, {"name": name, **dict(mapping)}, where)


STRATEGY_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class RuntimeConfig:
    """How a job computes; none of these change results beyond floating-point noise."""

    device: str = "auto"
    threads: int = 1
    deterministic: bool = True
    inference_batch_size: int | None = None
    """Batch size of no-grad forward passes (evaluation, query scoring); None = 128 on CPU, 4096 on CUDA."""
    checkpoint_every: int = 10
    """Training jobs save their state every N rounds and resume from it when rerun; 0 = never."""
    trainer: str = "auto"
    """FL trainer: "sequential" (one client after another), "vectorised" (all clients of a round in one
    batched step), "auto" = vectorised on CUDA, sequential on CPU (where it is faster)."""
    compile: str = "off"
    """Vectorised trainer only: torch.compile its step ("default"), or with CUDA graphs ("reduce-overhead")."""
    precision: str = "fp32"
    """"tf32" lets CUDA matmuls/convolutions use TF32; "bf16" autocasts the vectorised trainer's forward."""

    def resolved_trainer(self, device) -> str:
        if self.trainer != "auto":
            return self.trainer
        return "vectorised" if str(device).startswith("cuda") else "sequential"

    def inference_batch(self, device) -> int:
        if self.inference_batch_size is not None:
            return self.inference_batch_size
        return 4096 if str(device).startswith("cuda") else 128

    def validate(self, where: str) -> None:
        _check(
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
            f"{where}.device",
            f"must be auto, cpu, cuda or cuda:N, got {self.device!r}",
        )
        _check(
            isinstance(self.threads, int) and self.threads >= 1,
            f"{where}.threads",
            f"must be an integer >= 1, got {self.threads!r}",
        )
        _check(isinstance(self.deterministic, bool), f"{where}.deterministic", "must be true or false")
        _check(
            isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 0,
            f"{where}.checkpoint_every",
            f"must be an integer >= 0, got {self.checkpoint_every!r}",
        )
        _check(self.trainer in TRAINERS, f"{where}.trainer", f"must be one of {list(TRAINERS)}, got {self.trainer!r}")
        _check(
            self.compile in COMPILE_MODES,
            f"{where}.compile",
            f"must be one of {list(COMPILE_MODES)}, got {self.compile!r}",
        )
        _check(
            self.precision in PRECISIONS,
            f"{where}.precision",
            f"must be one of {list(PRECISIONS)}, got {self.precision!r}",
        )
        if self.inference_batch_size is not None:
            _check(
                isinstance(self.inference_batch_size, int) and self.inference_batch_size >= 1,
                f"{where}.inference_batch_size",
                f"must be an integer >= 1 or null, got {self.inference_batch_size!r}",
            )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None, where: str = "runtime") -> RuntimeConfig:
        return _build(cls, mapping, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

    def validate(self, where: str) -> None:
        for key, allowed in {
            "aulc_x_unit": ("percent", "fraction"),
            "win_rate": ("faithful", "corrected"),
            "emd": ("half", "l1"),
            "accuracy": (None, "final", "last5"),
            "compare_published": (None, True, False),
        }.items():
            value = getattr(self, key)
            _check(value in allowed, f"{where}.{key}", f"must be one of {[a for a in allowed]}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RESERVED_STUDY_NAMES = {"tables", "figures", "published"}
"""Folders under paths.reports that are not studies."""


TRAINERS = ("auto", "sequential", "vectorised")
COMPILE_MODES = ("off", "default", "reduce-overhead")
PRECISIONS = ("fp32", "tf32", "bf16")


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """A named experiment grid: settings × seeds × strategies under one protocol."""

    name: str
    description: str
    settings: tuple[SettingConfig, ...]
    seeds: tuple[int, ...]
    strategies: tuple[StrategyConfig, ...]
    protocol: ProtocolConfig
    fidelity: FidelityConfig
    table_ratios: tuple[float, ...] | None
    tables: tuple[str, ...] = ()
    """Paper tables this study produces (names in fal.stats.catalog.TABLES)."""
    figures: tuple[str, ...] = ()
    """Paper figures this study produces (names in fal.stats.catalog.FIGURES)."""
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    uses_paper_protocol: bool = False
    """True when protocol and data are the paper's (no reductions): published values are then comparable."""

    def analysis_info(self) -> dict[str, Any]:
        """Plain data about the study for the analysis code (fal.stats.paper_tables, fal.plots.paper_figures)."""
        compare = self.analysis.compare_published
        protocol = self.protocol.to_dict()
        fl_algorithm = next(
            (protocol[k] for k in ("fl_algorithm", "fl_method", "algorithm") if k in protocol), "fedavg"
        )
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
                }
                for s in self.strategies
            ],
            "settings": {
                s.id: {
                    **s.to_dict(),
                    "model": protocol["model"],
                    "fl_algorithm": getattr(s, "fl_algorithm", None) or fl_algorithm,
                }
                for s in self.settings
            },
            "table_ratios": list(self.table_ratios) if self.table_ratios else None,
            "analysis": self.analysis.to_dict(),
            "compare_published": self.uses_paper_protocol if compare is None else compare,
        }

    def setting(self, setting_id: str) -> SettingConfig:
        for setting in self.settings:
            if setting.id == setting_id:
                return setting
        raise ConfigError(f"study {self.name}: no setting {setting_id!r}; settings: {[s.id for s in self.settings]}")

    def strategy(self, name: str) -> StrategyConfig:
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
}
_DATA_KEYS = {"lt_img_max", "test_per_class"}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_strategies(config: Mapping[str, Any]) -> dict[str, StrategyConfig]:
    strategies = config.get("strategies") or {}
    if not isinstance(strategies, Mapping):
        raise ConfigError("strategies: must be a mapping of name -> {method, query_model, options}")
    return {name: StrategyConfig.from_dict(name, spec or {}, f"strategies.{name}") for name, spec in strategies.items()}


def resolve_study(config: Mapping[str, Any], name: str) -> Study:
    """Resolve ``config['studies'][name]`` against the top-level defaults into a validated Study."""
    studies = config.get("studies") or {}
    if name not in studies:
        raise ConfigError(f"run_studies: unknown study {name!r}; defined studies: {sorted(studies)}")
    where = f"studies.{name}"
    raw = studies[name] or {}
    unknown = sorted(set(raw) - _STUDY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_STUDY_KEYS)}")

    protocol = ProtocolConfig.from_dict(
        _deep_merge(config.get("protocol") or {}, raw.get("protocol") or {}), f"{where}.protocol"
    )
    fidelity_raw = raw.get("fidelity", config.get("fidelity"))
    fidelity = FidelityConfig.from_dict(fidelity_raw, f"{where}.fidelity")

    data = dict(raw.get("data") or {})
    unknown = sorted(set(data) - _DATA_KEYS)
    if unknown:
        raise ConfigError(f"{where}.data: unknown key(s) {unknown}; allowed: {sorted(_DATA_KEYS)}")

    for key in ("datasets", "alpha", "seeds", "strategies"):
        if key not in raw:
            raise ConfigError(f"{where}: missing required key {key!r}")
    datasets = _as_list(raw["datasets"])
    rhos = _as_list(raw.get("rho", [None]))
    alphas = _as_list(raw["alpha"])
    clients = _as_list(raw.get("num_clients", protocol.num_clients))
    settings = []
    for dataset, rho, alpha, num_clients in itertools.product(datasets, rhos, alphas, clients):
        spec = DATASETS.get(dataset)
        setting_rho = rho if (spec is None or spec.long_tailed) else None
        settings.append(
            SettingConfig.from_dict(
                {
                    "dataset": dataset,
                    "rho": setting_rho,
                    "alpha": alpha,
                    "num_clients": num_clients,
                    "partition": raw.get("partition", "dir_balance"),
                    "lt_img_max": data.get("lt_img_max") if (spec is not None and spec.long_tailed) else None,
                    "test_per_class": data.get("test_per_class"),
                },
                f"{where} setting ({dataset}, rho={rho}, alpha={alpha}, K={num_clients})",
            )
        )
    for setting in settings:
        setting.check_feasible(protocol, where)
    ids = [s.id for s in settings]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: duplicate settings {ids}")

    seeds = _as_list(raw["seeds"])
    for seed in seeds:
        _check(
            isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
            f"{where}.seeds",
            f"seeds must be integers >= 0, got {seed!r}",
        )
    _check(len(set(seeds)) == len(seeds), f"{where}.seeds", f"duplicate seeds in {seeds}")

    known = resolve_strategies(config)
    strategy_names = _as_list(raw["strategies"])
    _check(len(strategy_names) > 0, f"{where}.strategies", "at least one strategy is needed")
    for strategy_name in strategy_names:
        _check(
            strategy_name in known,
            f"{where}.strategies",
            f"unknown strategy {strategy_name!r}; defined under strategies: {sorted(known)}",
        )
    _check(
        len(set(strategy_names)) == len(strategy_names),
        f"{where}.strategies",
        f"duplicate strategies in {strategy_names}",
    )
    for strategy_name in strategy_names:
        update = (known[strategy_name].federated or {}).get("algorithm", "fedavg")
        _check(
            update == "fedavg" or protocol.fl_algorithm == "fedavg",
            f"{where}.protocol.fl_algorithm",
            f"strategy {strategy_name} trains with its own local update ({update}), which runs on FedAvg "
            f"aggregation; use fl_algorithm: fedavg in this study or drop {strategy_name}",
        )

    table_ratios = raw.get("table_ratios")
    if table_ratios is not None:
        table_ratios = tuple(float(r) for r in _as_list(table_ratios))

    from fal.stats.catalog import FIGURES, TABLES

    _check(
        name not in RESERVED_STUDY_NAMES,
        f"studies.{name}",
        f"the study names {sorted(RESERVED_STUDY_NAMES)} are reserved for report folders",
    )
    outputs = {}
    for key, known_names in (("tables", TABLES), ("figures", FIGURES)):
        names = _as_list(raw.get(key, []))
        for item in names:
            _check(
                item in known_names, f"{where}.{key}", f"unknown {key[:-1]} {item!r}; available: {sorted(known_names)}"
            )
        _check(len(set(names)) == len(names), f"{where}.{key}", f"duplicates in {names}")
        outputs[key] = tuple(names)
    analysis = _build(AnalysisConfig, raw.get("analysis"), f"{where}.analysis")
    paper_protocol = ProtocolConfig.from_dict(config.get("protocol") or {}, "protocol")
    uses_paper_protocol = protocol == paper_protocol and all(
        s.lt_img_max is None and s.test_per_class is None for s in settings
    )

    return Study(
        name=name,
        description=str(raw.get("description", "")),
        settings=tuple(settings),
        seeds=tuple(seeds),
        strategies=tuple(known[s] for s in strategy_names),
        protocol=protocol,
        fidelity=fidelity,
        table_ratios=table_ratios,
        tables=outputs["tables"],
        figures=outputs["figures"],
        analysis=analysis,
        uses_paper_protocol=uses_paper_protocol,
    )
