"""What a query method declares (``METHOD = MethodInfo(...)`` in its module of ``fal/strategies/methods/``).

The planning side reads the declarations without importing the modules (``fal.plan.catalog.METHODS``);
a query job gets its strategy resolved in its params and imports only its method's module.
"""

from __future__ import annotations

from dataclasses import dataclass

from fal.registry import Declaration, Option

__all__ = ["MethodInfo", "Option"]


@dataclass(frozen=True)
class MethodInfo(Declaration):
    """A query method; its entry point is the module's ``query(step, strategy) -> QueryOutcome``."""

    label: str = ""
    """Display name in tables."""
    summary: str = ""
    """What it does, in one line (the docs' method table)."""
    spec: str = ""
    """Where reference-spec.md (or a paper, P-KA: KAFAL's) describes it."""
    query_models: tuple[str, ...] = ()
    """Allowed ``query_model`` values ("global", "local"); empty when the method picks models itself."""
    selector: str = "–"
    """The table's "Sel" column when the method has no query_model choice."""
    local_model: str | None = None
    """Default local query model kind (scratch, last_round, finetune) of a method that always uses one;
    None for methods that use one only with ``query_model: local`` (then "scratch")."""
    trains_with: str = ""
    """The entry point of a module trained jointly with the model in every cycle, configured by the
    method's options (LL4AL: ``fal.federated.loss_prediction:LossPrediction``); empty for methods that
    only query. Its module enters the code hash of the strategy's training and query jobs only."""
    multi_label: bool = False
    """The method has a score for multi-label data (sigmoid outputs) and may run on a multi-label dataset
    (KAFAL Table 4); a study refuses the others there."""

    def __post_init__(self) -> None:
        if not self.entry:
            object.__setattr__(self, "entry", "query")
