"""What every configuration module shares: the error type and the checks that name the key path."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, out of range, or inconsistent."""


FLOAT_TYPES = {"float", "float | None"}
"""Field annotations whose whole-number values are stored as floats (``from __future__ import annotations``
keeps them as strings)."""


def canonical(value: Any, annotation: Any) -> Any:
    """``value`` in one form per meaning: 4 and 4.0 in a float field are both 4.0, so how a number is
    written never changes a job's params (nor reruns it)."""
    if str(annotation) in FLOAT_TYPES and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build_config(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """Construct a dataclass from a mapping, rejecting unknown keys with the full key path, storing
    numbers in canonical form (``canonical``), and run its own checks (``validate(where)``, where it has one)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # cls is a dataclass
    names = set(fields)
    mapping = {k: canonical(v, fields[k].type) if k in fields else v for k, v in dict(mapping or {}).items()}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(unknown_keys(where, unknown, names))
    try:
        obj = cls(**mapping)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(where)
    return obj


def did_you_mean(value: Any, allowed: Iterable[Any]) -> str:
    """ " (did you mean y?)" when ``value`` is close to one of ``allowed``, else ""."""
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=2)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def unknown_keys(where: str, unknown: Iterable[str], allowed: Iterable[str]) -> str:
    """ "<where>: unknown key(s) 'x' (did you mean y?); allowed: [...]"."""
    hints = [f"{key!r}{did_you_mean(key, allowed)}" for key in sorted(unknown)]
    return f"{where}: unknown key(s) {', '.join(hints)}; allowed: {sorted(allowed)}"


def check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{where}: {message}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
