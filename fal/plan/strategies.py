"""A strategy entry of the configuration (``strategies:`` in config.yaml): checked against the catalogs
and resolved into what its jobs compute with (a query job's ``StrategyConfig``, a training job's update)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.config.base import ConfigError, build_config, check, is_number
from fal.config.strategy import LOCAL_MODEL_KINDS, StrategyConfig
from fal.plan.catalog import ALGORITHMS, METHODS, strategy_updates

STRATEGY_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class StrategyEntry:
    """A named query strategy as configured: a registered method, its query model (G/L), options, the
    kind of its local query model and the federated update that trains its cycles."""

    name: str
    method: str
    query_model: str | None = None
    label: str | None = None
    """Display name in tables (defaults to the method's)."""
    options: dict[str, Any] = field(default_factory=dict)
    local_model: str | None = None
    """scratch | last_round | finetune (§5); None = the method's default (scratch for L-selectors)."""
    federated: dict[str, Any] = field(default_factory=dict)
    """{"algorithm": fedavg | <a strategy-level update>, ...its options}; empty = plain FedAvg (§4.1)."""

    def validate(self, where: str) -> None:
        check(
            bool(STRATEGY_NAME.fullmatch(self.name)) and self.name != "init",
            where,
            f"strategy name {self.name!r} must match {STRATEGY_NAME.pattern} and not be 'init'",
        )
        info = METHODS.get_or_explain(self.method, f"{where}.method")
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
        self._validate_local_model(where)
        self._validate_federated(where)

    def _validate_local_model(self, where: str) -> None:
        info = METHODS[self.method]
        if self.local_model is not None:
            check(
                self.local_model in LOCAL_MODEL_KINDS,
                f"{where}.local_model",
                f"must be one of {list(LOCAL_MODEL_KINDS)}, got {self.local_model!r}",
            )
            check(
                self.uses_local_model,
                f"{where}.local_model",
                f"method {self.method} with query_model {self.query_model!r} uses no local model; drop local_model "
                "or use query_model: local",
            )
        if info.trains_with and self.uses_local_model:
            check(
                self.local_model_kind == "last_round",
                f"{where}.local_model",
                f"method {self.method} queries with a model trained with a module of its own: with query_model "
                f"local it needs local_model: last_round (the client's model), got {self.local_model_kind!r}",
            )

    def _validate_federated(self, where: str) -> None:
        check(isinstance(self.federated, dict), f"{where}.federated", "must be a mapping")
        update = self.update
        check(
            update in strategy_updates(),
            f"{where}.federated.algorithm",
            f"must be one of {list(strategy_updates())}, got {update!r}",
        )
        options = {k: v for k, v in self.federated.items() if k != "algorithm"}
        for key, message in ALGORITHMS[update].option_problems(options):
            check(False, f"{where}.federated.{key}", message)

    @property
    def update(self) -> str:
        """The federated update that trains this strategy's cycles: fedavg (the protocol's algorithm) or
        one the strategy brings itself (KCFU)."""
        return str(self.federated.get("algorithm", "fedavg"))

    @property
    def uses_local_model(self) -> bool:
        """Whether the method queries with a per-client local model (an L-selector, or a method that
        always uses one, such as FairFAL, KSAS and IFAL)."""
        return self.query_model == "local" or METHODS[self.method].local_model is not None

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

    def update_options(self, multi_label: bool = False) -> dict[str, Any]:
        """The update's options, every one resolved (left out: those only multi-label data reads, unless
        ``multi_label``)."""
        given = {k: v for k, v in self.federated.items() if k != "algorithm"}
        return ALGORITHMS[self.update].resolved_options(given, multi_label)

    def trains_with(self, multi_label: bool = False) -> dict[str, Any] | None:
        """The module the method trains with the model in every cycle (LL4AL's loss prediction): its entry
        point and the method's options that configure it; None for methods that only query."""
        info = METHODS[self.method]
        if not info.trains_with:
            return None
        return {"entry": info.trains_with, "options": self.resolved_options(multi_label)}

    @property
    def trains_own_cycle1(self) -> bool:
        """Whether cycle 1 is trained for this strategy alone (not the shared FedAvg arm "init"): when the
        method trains a module with the model, or its update trains cycle 1 (an update's ``train_cycle1``
        option, KCFU's)."""
        if METHODS[self.method].trains_with:
            return True
        return self.update != "fedavg" and bool(self.update_options().get("train_cycle1", False))

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
        defaults = ALGORITHMS[self.update].defaults
        return ",".join(
            f"{key}={value}"
            for key, value in sorted(self.federated.items())
            if key != "algorithm" and defaults.get(key) != value
        )

    def resolved_options(self, multi_label: bool = False) -> dict[str, Any]:
        """Every method option with its default filled in, in canonical form (an option written at its
        default, or as 4 for 4.0, changes nothing); those only multi-label data reads left out unless
        ``multi_label``."""
        return METHODS[self.method].resolved_options(self.options, multi_label)

    def query_strategy(self, multi_label: bool = False) -> StrategyConfig:
        """What a query job of this strategy computes with (not the label nor an FL update's options:
        those are the tables' and the training's)."""
        info = METHODS[self.method]
        return StrategyConfig(
            name=self.name,
            method=self.method,
            entry=info.entry_point,
            options=self.resolved_options(multi_label),
            query_model=self.query_model,
            local_model=self.local_model_kind,
            trains_with=info.trains_with,
        )

    def metrics_params(self) -> dict[str, Any]:
        """What a run's metrics record of the strategy: its method and selector (its display label is the
        tables' and figures' business: renaming it reruns only them)."""
        return {"method": self.method, "selector": self.selector}

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("local_model", "federated", "label", "query_model"):
            if not out[key]:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, name: str, mapping: Mapping[str, Any], where: str) -> StrategyEntry:
        return build_config(cls, {"name": name, **dict(mapping)}, where)


def resolve_strategies(config: Mapping[str, Any]) -> dict[str, StrategyEntry]:
    """Every entry of ``config['strategies']``, checked."""
    strategies = config.get("strategies") or {}
    if not isinstance(strategies, Mapping):
        raise ConfigError("strategies: must be a mapping of name -> {method, query_model, options}")
    return {name: StrategyEntry.from_dict(name, spec or {}, f"strategies.{name}") for name, spec in strategies.items()}
