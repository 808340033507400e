"""A strategy as a query job runs it: its method's entry point and everything already resolved.

The configuration's strategy entries (``strategies:`` in config.yaml) are checked and resolved when the
configuration is read (fal.plan.strategies); a query job rebuilds this from its params, so it needs no
catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOCAL_MODEL_KINDS = ("scratch", "last_round", "finetune")
"""The L query model (reference-spec §5): trained from a shared random init (§5.1), the client's model
after its local training in the cycle's last FL round (§5.3, the IFAL repo's), or fine-tuned from the
global model (§5.2, LoGo's ``ft_*``)."""


@dataclass(frozen=True)
class StrategyConfig:
    """A resolved query strategy: a method (its entry point), its query model (G/L), every option with
    its default filled in, the kind of its local query model and the module it trains with the model."""

    name: str
    method: str
    entry: str = ""
    """The method's entry point, ``fal.strategies.methods.<module>:query`` (fal.registry.load_entry)."""
    options: dict[str, Any] = field(default_factory=dict)
    query_model: str | None = None
    local_model: str | None = None
    """scratch | last_round | finetune (§5); None when the strategy queries with no local model."""
    trains_with: str = ""
    """Entry point of a module trained with the model in every cycle (LL4AL's loss prediction), configured
    by the options; empty for strategies that only query."""

    @property
    def local_model_kind(self) -> str | None:
        return self.local_model

    def resolved_options(self) -> dict[str, Any]:
        return dict(self.options)

    def to_params(self) -> dict[str, Any]:
        """What a query job computes with, in one canonical form (the name is its path, not a param)."""
        out: dict[str, Any] = {"method": self.method, "entry": self.entry, "options": dict(self.options)}
        for key in ("query_model", "local_model", "trains_with"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any]) -> StrategyConfig:
        return cls(name=name, **params)
