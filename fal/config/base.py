"""What every configuration module shares: the error type and the checks that name the key path."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown, out of range, or inconsistent."""


def build_config(cls, mapping: Mapping[str, Any] | None, where: str):
    """Construct a dataclass from a mapping, rejecting unknown keys with the full key path."""
    mapping = dict(mapping or {})
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(unknown_keys(where, unknown, names))
    try:
        obj = cls(**mapping)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    obj.validate(where)
    return obj


def did_you_mean(value, allowed) -> str:
    """ " (did you mean y?)" when ``value`` is close to one of ``allowed``, else ""."""
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=2)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def unknown_keys(where: str, unknown, allowed) -> str:
    """ "<where>: unknown key(s) 'x' (did you mean y?); allowed: [...]"."""
    hints = [f"{key!r}{did_you_mean(key, allowed)}" for key in sorted(unknown)]
    return f"{where}: unknown key(s) {', '.join(hints)}; allowed: {sorted(allowed)}"


def check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{where}: {message}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_yaml_file(path: str | Path) -> None:
    """Raise a ConfigError naming the file, line and column of a YAML syntax error (Snakemake's own
    message says only "not valid JSON or YAML")."""
    import yaml

    path = Path(path)
    try:
        yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise ConfigError(f"{path}, {line}: YAML syntax error: {exc.problem or exc.context}") from None
