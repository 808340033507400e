"""The method registry: every query method declares itself in its own module, found here by reading.

A method module of ``fal/strategies/methods/`` holds a top-level ``METHOD = MethodInfo(...)`` (or a
tuple of them) beside its ``query(step, strategy)`` function. This module finds those declarations by
parsing the files (``fal.config.declarations``) without importing them, so configuration validation
stays torch-free and cheap, and
adding, removing or editing one method's declaration touches no other method's code (nor its code hash,
so no other method's jobs rerun). Options are declared once, with type, default, range or choices and
meaning; validation, the docs' option table (docs/methods.md) and the defaults all come from here.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fal.config.declarations import FAL_ROOT, module_name, modules_in, read_declarations

METHODS_DIR = FAL_ROOT / "strategies" / "methods"


@dataclass(frozen=True)
class Option:
    """One method option: its default, what values it accepts and what it means."""

    name: str
    default: Any
    meaning: str
    choices: tuple = ()
    """Allowed values (for choice options); empty for numbers."""
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    """Exclusive lower bound."""
    below: float | None = None
    """Exclusive upper bound."""
    integer: bool = False
    multi_label_only: bool = False
    """Only multi-label data reads it: single-label jobs' params leave it out."""

    def problem(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else what is wrong and what is allowed."""
        if self.choices:
            return None if value in self.choices else f"must be {self.allowed()}, got {value!r}"
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = (
            number
            and (not self.integer or float(value) == int(value))
            and (self.minimum is None or value >= self.minimum)
            and (self.above is None or value > self.above)
            and (self.maximum is None or value <= self.maximum)
            and (self.below is None or value < self.below)
        )
        return None if ok else f"must be {self.allowed()}, got {value!r}"

    def allowed(self) -> str:
        """The allowed values in words: "a number in [0, 1]", "a whole number >= 1", "one of a, b"."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        low = f"[{self.minimum:g}" if self.minimum is not None else f"({self.above:g}" if self.above is not None else ""
        high = (
            f"{self.maximum:g}]" if self.maximum is not None else f"{self.below:g})" if self.below is not None else ""
        )
        kind = "a whole number" if self.integer else "a number"
        if low and high:
            return f"{kind} in {low}, {high}"
        if low:
            return f"{kind} {'>=' if low[0] == '[' else '>'} {low[1:]}"
        if high:
            return f"{kind} {'<=' if high[-1] == ']' else '<'} {high[:-1]}"
        return kind


@dataclass(frozen=True)
class MethodInfo:
    name: str
    """The name configs use (``strategies.<x>.method``)."""
    label: str
    query_models: tuple[str, ...] = ()
    """Allowed ``query_model`` values ("global", "local"); empty when the method picks models itself."""
    selector: str = "–"
    """The table's "Sel" column when the method has no query_model choice."""
    options: tuple[Option, ...] = ()
    local_model: str | None = None
    """Default local query model kind (fal.config.LOCAL_MODEL_KINDS) of a method that always uses
    one; None for methods that use one only with ``query_model: local`` (then "scratch")."""
    trains_with: str | None = None
    """A module trained jointly with the model in every cycle, configured by the method's options:
    "loss_prediction" (LL4AL, fal.federated.loss_prediction); None for methods that only query."""
    multi_label: bool = False
    """The method has a score for multi-label data (sigmoid outputs, fal.strategies.multilabel) and may
    run on a multi-label dataset (KAFAL Table 4); a study refuses the others there."""
    module: str = field(default="", compare=False)
    """Dotted module that declares it (filled in by discovery); its ``query`` function runs the method."""

    @property
    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def option_problems(self, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(option, what is wrong) for every unknown or out-of-range option in ``options``."""
        problems = []
        known = {o.name: o for o in self.options}
        for key, value in options.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=3)
                hint = f"did you mean {' or '.join(close)}? " if close else ""
                problems.append((key, f"unknown option of method {self.name}; {hint}allowed: {sorted(known)}"))
            elif (message := known[key].problem(value)) is not None:
                problems.append((key, message))
        return problems


def discover_methods(directory: Path = METHODS_DIR) -> dict[str, MethodInfo]:
    """Every method declared in ``directory``'s modules, by name."""
    methods: dict[str, MethodInfo] = {}
    for path in modules_in(directory):
        for declared in read_declarations(path, "METHOD", {"MethodInfo": MethodInfo, "Option": Option}):
            info = replace(declared, module=module_name(path))
            if info.name in methods:
                raise ValueError(
                    f"method {info.name!r} is declared in both {methods[info.name].module} and {info.module}"
                )
            methods[info.name] = info
    return methods


METHODS: dict[str, MethodInfo] = discover_methods()
