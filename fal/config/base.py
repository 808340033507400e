"""What every configuration module shares: the error type and the checks that name the key path."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown, out of range, or inconsistent."""


def build_config(cls, mapping: Mapping[str, Any] | None, where: str):
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


def check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{where}: {message}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
