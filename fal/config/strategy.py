"""A named query strategy: a registered method, its query model, options, local model kind and FL update."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.config.base import build_config, check, is_number
from fal.config.methods import METHODS

LOCAL_MODEL_KINDS = ("scratch", "last_round", "finetune")
"""The L query model (reference-spec §5): trained from a shared random init (§5.1), the client's model
after its local training in the cycle's last FL round (§5.3, the IFAL repo's), or fine-tuned from the
global model (§5.2, LoGo's ``ft_*``)."""

STRATEGY_FL_UPDATES: dict[str, dict[str, Any]] = {
    "fedavg": {},
    # KAFAL's KCFU local update (reference-spec §7.1-§7.2, fal/federated/algorithms/kcfu.py); defaults = official code.
    "kcfu": {
        "nu": 0.5,  # paper's trade-off ν (only used by combination "convex")
        "combination": "sum",  # sum: client + compensation (code) | convex: ν·client + (1-ν)·compensation (paper)
        "mix_partner": "batch",  # batch: one partner index per batch (code) | sample: one per sample (paper)
        "gamma_weights": "normalised",  # normalised: N/n_c over present classes, summed to 1 (code) | ratio: N/n_c (paper) | uniform: 1/C (KAFAL §4.3.1's ablation)
        "gamma_labels": "mixed",  # mixed: teacher argmax on mixed inputs (code) | unmixed: on x1', x2' (paper)
        "kl_reduction": "class_mean",  # class_mean: KL/C (code) | sum: KL (paper)
        "beta": 2.0,  # mixing weight β ~ Beta(beta, beta)
        "all_clients_last_round": True,  # every client trains in the last round (code), whatever client_fraction
        "train_cycle1": True,  # cycle 1 trained with KCFU too (code and paper); false = the shared FedAvg cycle 1
        "compensation": True,  # false: the balanced-softmax client loss alone (KAFAL Table 1's "Baseline")
        "mix_unlabelled": True,  # false: distil on the unlabelled images unmixed, β = 1 (Table 1's "KCFU w/o mix")
        "balanced_loss": True,  # false: plain cross-entropy on labelled data, n replaced by 1 in Eq. 4 (KAFAL Fig. 4(f))
        # multi-label data only (fal/federated/algorithms/kcfu.py): Γ per sample from the teacher's positive
        # labels (pseudo_labels, as Eq. 5 per pseudo-label) | per label on each label's KL term (per_label)
        "multilabel_gamma": "pseudo_labels",
    },
}
MULTILABEL_ONLY_FL_OPTIONS = frozenset({"multilabel_gamma"})
"""FL update options that only multi-label data reads: left out of single-label jobs' params."""
_FL_CHOICES: dict[str, tuple] = {
    "combination": ("sum", "convex"),
    "mix_partner": ("batch", "sample"),
    "gamma_weights": ("normalised", "ratio", "uniform"),
    "gamma_labels": ("mixed", "unmixed"),
    "kl_reduction": ("class_mean", "sum"),
    "all_clients_last_round": (True, False),
    "train_cycle1": (True, False),
    "compensation": (True, False),
    "mix_unlabelled": (True, False),
    "balanced_loss": (True, False),
    "multilabel_gamma": ("pseudo_labels", "per_label"),
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
        check(
            bool(STRATEGY_NAME.fullmatch(self.name)) and self.name != "init",
            where,
            f"strategy name {self.name!r} must match {STRATEGY_NAME.pattern} and not be 'init'",
        )
        check(
            self.method in METHODS, f"{where}.method", f"unknown method {self.method!r}; available: {sorted(METHODS)}"
        )
        info = METHODS[self.method]
        if info.query_models:
            check(
                self.query_model in info.query_models,
                f"{where}.query_model",
                f"method {self.method} needs query_model in {list(info.query_models)}, got {self.query_model!r}",
            )
        else:
            check(
                self.query_model is None,
                f"{where}.query_model",
                f"method {self.method} takes no query_model (got {self.query_model!r})",
            )
        check(isinstance(self.options, dict), f"{where}.options", "must be a mapping")
        for key, message in info.option_problems(self.options):
            check(False, f"{where}.options.{key}", message)
        if self.local_model is not None:
            check(
                self.local_model in LOCAL_MODEL_KINDS,
                f"{where}.local_model",
                f"must be one of {list(LOCAL_MODEL_KINDS)}, got {self.local_model!r}",
            )
            check(
                self.uses_local_model,
                f"{where}.local_model",
                f"method {self.method} with query_model {self.query_model!r} uses no local model; drop local_model or use query_model: local",
            )
        if info.trains_with and self.uses_local_model:
            check(
                self.local_model_kind == "last_round",
                f"{where}.local_model",
                f"method {self.method} queries with a model trained with its {info.trains_with} module: with "
                f"query_model local it needs local_model: last_round (the client's model), got {self.local_model_kind!r}",
            )
        check(isinstance(self.federated, dict), f"{where}.federated", "must be a mapping")
        algorithm = self.federated.get("algorithm", "fedavg")
        check(
            algorithm in STRATEGY_FL_UPDATES,
            f"{where}.federated.algorithm",
            f"must be one of {sorted(STRATEGY_FL_UPDATES)}, got {algorithm!r}",
        )
        allowed = STRATEGY_FL_UPDATES.get(algorithm, {})
        unknown = sorted(set(self.federated) - set(allowed) - {"algorithm"})
        check(
            not unknown,
            f"{where}.federated",
            f"unknown option(s) {unknown} for algorithm {algorithm}; allowed: {sorted(allowed)}",
        )
        for key, value in self.federated.items():
            if key in _FL_CHOICES:
                check(
                    value in _FL_CHOICES[key],
                    f"{where}.federated.{key}",
                    f"must be one of {list(_FL_CHOICES[key])}, got {value!r}",
                )
        for key in ("nu",):
            if key in self.federated:
                value = self.federated[key]
                check(
                    is_number(value) and 0 <= value <= 1,
                    f"{where}.federated.{key}",
                    f"must be in [0, 1], got {value!r}",
                )
        if "beta" in self.federated:
            value = self.federated["beta"]
            check(is_number(value) and value > 0, f"{where}.federated.beta", f"must be > 0, got {value!r}")

    @property
    def uses_local_model(self) -> bool:
        """Whether the method queries with a per-client local model (an L-selector, or a method that
        always uses one, such as FairFAL, KSAS and IFAL)."""
        info = METHODS[self.method]
        return self.query_model == "local" or info.local_model is not None

    @property
    def local_model_kind(self) -> str | None:
        """The resolved local query model kind, or None when the strategy uses none. A method that trains
        a module with the model (LL4AL) queries the client's model that trained it (last_round)."""
        if not self.uses_local_model:
            return None
        info = METHODS[self.method]
        return self.local_model or info.local_model or ("last_round" if info.trains_with else "scratch")

    @property
    def needs_client_models(self) -> bool:
        """Whether the query reads the training stage's last-round client models (§5.3)."""
        return self.local_model_kind == "last_round"

    def resolved_federated(self, multi_label: bool = False) -> dict[str, Any]:
        """The training algorithm of this strategy's cycles with every option filled in; with
        ``loss_prediction`` (the method's options) when the method trains a loss module (LL4AL).
        Options only multi-label data reads are left out unless ``multi_label``."""
        algorithm = self.federated.get("algorithm", "fedavg")
        resolved = {
            "algorithm": algorithm,
            **STRATEGY_FL_UPDATES[algorithm],
            **{k: v for k, v in self.federated.items() if k != "algorithm"},
        }
        if not multi_label:
            resolved = {k: v for k, v in resolved.items() if k not in MULTILABEL_ONLY_FL_OPTIONS}
        if METHODS[self.method].trains_with == "loss_prediction":
            resolved["loss_prediction"] = self.resolved_options()
        return resolved

    @property
    def trains_own_cycle1(self) -> bool:
        """Whether cycle 1 is trained for this strategy alone (not the shared FedAvg arm "init")."""
        fl = self.resolved_federated()
        return "loss_prediction" in fl or (fl["algorithm"] != "fedavg" and bool(fl.get("train_cycle1", False)))

    @property
    def selector(self) -> str:
        """The table's "Sel" column: G, L, or G, L for methods that use both models."""
        if self.query_model:
            return {"global": "G", "local": "L"}[self.query_model]
        return METHODS[self.method].selector

    @property
    def display_name(self) -> str:
        return self.label or METHODS[self.method].label

    @property
    def variant(self) -> str:
        """Options that differ from the method's defaults, e.g. "kappa=2" (how tables tell option sweeps apart)."""
        defaults = METHODS[self.method].defaults
        parts = []
        for key in sorted(self.options):
            value = self.options[key]
            if defaults.get(key) == value:
                continue
            parts.append(f"{key}={value:g}" if is_number(value) else f"{key}={value}")
        return ",".join(parts)

    @property
    def update_variant(self) -> str:
        """Federated options that differ from the update's defaults, e.g. "compensation=False" (how
        KAFAL Table 1 tells its update variants apart)."""
        defaults = STRATEGY_FL_UPDATES.get(self.federated.get("algorithm", "fedavg"), {})
        return ",".join(
            f"{key}={value}"
            for key, value in sorted(self.federated.items())
            if key != "algorithm" and defaults.get(key) != value
        )

    def resolved_options(self) -> dict[str, Any]:
        return {**METHODS[self.method].defaults, **self.options}

    def query_params(self, multi_label: bool = False) -> dict[str, Any]:
        """What a query job computes with, in one canonical form: the method, its query model, every
        option with defaults filled in (an option written at its default changes nothing; a module the
        method trains with the model, LL4AL's, is built from them) and the resolved local model kind;
        not the label, the name (the path) or an FL update's options (training's params). The query
        script rebuilds the strategy from exactly this, so it must be a valid strategy entry itself.
        Options only multi-label data reads are left out unless ``multi_label``."""
        options = self.resolved_options()
        if not multi_label:
            options = {k: v for k, v in options.items() if not METHODS[self.method].option(k).multi_label_only}
        out: dict[str, Any] = {"method": self.method, "options": options}
        if self.query_model is not None:
            out["query_model"] = self.query_model
        if self.local_model_kind is not None:
            out["local_model"] = self.local_model_kind
        return out

    def metrics_params(self) -> dict[str, Any]:
        """What a run's metrics record of the strategy: its method, label and selector."""
        return {"method": self.method, "label": self.display_name, "selector": self.selector}

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
        return build_config(cls, {"name": name, **dict(mapping)}, where)


STRATEGY_NAME = re.compile(r"[a-z][a-z0-9_]*")
