"""One declaration form for every kind of extension, and one way to load what a declaration names.

Every extension (a query method, an FL algorithm, a dataset source, a paper table or figure) declares
itself once, beside its code, as a top-level assignment of literals and declaration types in its own
module: ``METHOD = MethodInfo(...)``, ``ALGORITHM = AlgorithmInfo(...)``, ``SOURCES = (SourceSpec(...),)``,
``OUTPUTS = (PaperTable(...), ...)``. Each declaration is a ``Declaration``: a name, its options (each an
``Option``: type, default, allowed values, the stages that read it, one line of doc) and its entry point,
an attribute of the declaring module (a function, a class or an object).

Two sides use them. The workflow's planning side (``fal.plan.catalog``) reads the declarations from the
source files without importing them, to validate configurations torch-free and to derive the schema's
choices, the docs' tables and each job's params. A job never reads the catalogs: its params carry the
declaration it needs, already resolved, and ``load_entry`` imports the one module it names. The rule's
code hash names that module too (workflow/rules/params.smk), so a job's code hash covers an extension's
module exactly when the job runs it. Standard library only.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

STAGES = ("partition", "train", "query", "metrics", "analysis")
"""The stages whose jobs compute with configuration options (a rule's params carry what they read):
"analysis" is the tables' and figures' (their captions and cells)."""


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}


@dataclass(frozen=True)
class Option:
    """One option of an extension: its default, what values it accepts, which stages read it, what it means."""

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
    read_by: tuple[str, ...] = ()
    """The stages that compute with it (STAGES); empty = the stage its kind runs in (a method's options:
    query; an FL algorithm's: train)."""
    when: tuple[tuple[str, str, Any], ...] = ()
    """Conditions on the job's other values under which it is read, e.g. ``(("lr_schedule", "==", "round"),)``."""

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether a job with ``values`` reads this option (all of ``when`` hold)."""
        return all(_COMPARE[op](values[key], operand) for key, op, operand in self.when)

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

    def canonical(self, value: Any) -> Any:
        """``value`` in one form per meaning: a number option's 4 and 4.0 are one value (a float, or an
        int for ``integer`` options), so how a value is written never changes a job's params."""
        if self.choices or isinstance(value, bool) or not isinstance(value, int | float):
            return value
        return int(value) if self.integer else float(value)

    def json_schema(self) -> dict[str, Any]:
        """This option's JSON-schema block (the config schema's generated parts)."""
        if self.choices:
            if all(isinstance(c, bool) for c in self.choices):
                return {"type": "boolean"}
            return {"type": "string", "enum": list(self.choices)}
        schema: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        bounds = {"minimum": self.minimum, "maximum": self.maximum}
        bounds |= {"exclusiveMinimum": self.above, "exclusiveMaximum": self.below}
        schema |= {key: value for key, value in bounds.items() if value is not None}
        return schema


@dataclass(frozen=True)
class Declaration:
    """What every kind of extension declares: its name, its options and its entry point."""

    name: str
    """The name configurations use."""
    _: KW_ONLY
    entry: str = ""
    """The attribute of the declaring module that runs it (its kind says what it must be)."""
    options: tuple[Option, ...] = ()
    reads: tuple[str, ...] = ()
    """Configuration keys outside its own options that only it reads ("fidelity.<switch>",
    "protocol.<key>"): the params of the jobs that run it carry them, other jobs' do not."""
    module: str = field(default="", compare=False)
    """The dotted module that declares it (filled in when the declarations are read)."""

    @property
    def noun(self) -> str:
        """What a message calls this kind of declaration ("method", "FL update", ...)."""
        return type(self).__name__.removesuffix("Info").lower()

    @property
    def entry_point(self) -> str:
        """``package.module:attribute``: what ``load_entry`` imports."""
        return f"{self.module}:{self.entry}"

    @property
    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def option_problems(self, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(option, what is wrong) for every unknown or out-of-range option in ``options``."""
        problems = []
        known = {o.name: o for o in self.options}
        for key, value in options.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=3)
                hint = f"did you mean {' or '.join(close)}? " if close else ""
                problems.append((key, f"unknown option of {self.noun} {self.name}; {hint}allowed: {sorted(known)}"))
            elif (message := known[key].problem(value)) is not None:
                problems.append((key, message))
        return problems

    def resolved_options(self, given: Mapping[str, Any], multi_label: bool = False) -> dict[str, Any]:
        """Every option with its default filled in and its value in canonical form (``Option.canonical``);
        options only multi-label data reads are left out unless ``multi_label``."""
        return {
            option.name: option.canonical(given.get(option.name, option.default))
            for option in self.options
            if multi_label or not option.multi_label_only
        }

    def to_params(self) -> dict[str, Any]:
        """The declaration as plain data for a job's params (options as their names)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("options", "_")}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in out.items()}


def load_entry(entry_point: str) -> Any:
    """The object ``package.module:attribute`` names; its module is imported now. Code loaded this way is
    outside the import scan of a rule's code hash: the rule names the module (params.smk)."""
    module, _, attribute = entry_point.partition(":")
    if not module.startswith("fal.") or not attribute:
        raise ValueError(f"an entry point is 'fal.<module>:<attribute>', got {entry_point!r}")
    return getattr(importlib.import_module(module), attribute)
