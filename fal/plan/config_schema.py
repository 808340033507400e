"""The configuration schema (``workflow/schemas/config.schema.yaml``): its one-line messages and the
blocks of it that are generated from the declarations.

Snakemake's own ``validate`` message dumps whole sub-schemas; ``schema_problem`` names the key path, the
bad value and what is allowed (with close matches), which is what the workflow raises instead.
``check_yaml_file`` names the line of a YAML syntax error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fal.config.base import ConfigError, did_you_mean, unknown_keys

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def schema_problem(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> str | None:
    """The config's first schema violation as one line (key path: what is wrong; what is allowed), or
    None when the config matches the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(dict(schema or load_schema()))
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    while error.context:  # oneOf/anyOf: the branch that got furthest
        error = jsonschema.exceptions.best_match(error.context)
    where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return unknown_keys(where, set(error.instance) - set(allowed), allowed)
    if error.validator == "enum":
        return (
            f"{where}: {error.instance!r} is not allowed{did_you_mean(error.instance, error.validator_value)}; "
            f"allowed: {list(error.validator_value)}"
        )
    return f"{where}: {_in_words(error.validator, error.validator_value, error.instance) or error.message}"


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_TYPES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}


def _in_words(validator: str, expected: Any, value: Any) -> str | None:
    """What a failed schema rule asks for, as a user reads it ("must be > 0, got 0"); None when the
    schema's own message says it better."""
    if validator in _BOUNDS:
        return f"must be {_BOUNDS[validator]} {expected}, got {value!r}"
    if validator == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        return f"must be {' or '.join(_TYPES.get(k, k) for k in kinds)}, got {value!r}"
    if validator == "minItems":
        return f"needs at least {expected} item{'s' if expected != 1 else ''}, got {value!r}"
    if validator == "minLength":
        return f"must not be empty, got {value!r}"
    if validator == "pattern":
        return f"{value!r} does not match {expected} (letters, digits and underscores, starting with a letter)"
    return None


def origin_of(key_path: str, layers: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Which configuration layer set the key a message names: the last of ``layers`` ((label, mapping),
    config.yaml first, then each --configfile, then --config) that holds the longest prefix of it."""
    parts = [p for p in re.split(r"[.\s]", key_path.split(":")[0]) if p]
    best, depth = layers[0][0], 0
    for label, mapping in layers:
        node: Any = mapping
        found = 0
        for part in parts:
            if isinstance(node, Mapping) and part in node:
                node, found = node[part], found + 1
            else:
                break
        if found and found >= depth:
            best, depth = label, found
    return best


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


def _flow(value: Any) -> str:
    """``value`` as a one-line YAML flow node (the schema file's style)."""
    import yaml

    return str(yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)).strip()


def federated_block() -> str:
    """The schema's ``federated`` definition: a strategy's FL update and every option any strategy-level
    update declares (fal.plan.catalog.ALGORITHMS, chosen_by: strategy)."""
    from fal.plan.catalog import ALGORITHMS, strategy_updates

    lines = [
        "  federated:",
        "    description: The federated update that trains a strategy's cycles (default plain FedAvg).",
        "    type: object",
        "    additionalProperties: false",
        "    properties:",
        f"      algorithm: {_flow({'type': 'string', 'enum': list(strategy_updates())})}",
    ]
    for name in strategy_updates():
        for option in ALGORITHMS[name].options:
            note = "  # multi-label data only" if option.multi_label_only else ""
            lines.append(f"      {option.name}: {_flow(option.json_schema())}{note}")
    return "\n".join(lines)


def fidelity_block() -> str:
    """The schema's ``fidelity`` definition: a preset's name, or a mapping of switches
    (fal.config.fidelity.SWITCHES)."""
    from fal.config.fidelity import PRESETS, SWITCHES

    def kind(choices: tuple) -> dict[str, Any]:
        if all(isinstance(c, bool) for c in choices):
            return {"type": "boolean"}
        return {"type": "string", "enum": list(choices)}

    lines = [
        "  fidelity:",
        "    oneOf:",
        f"      - {_flow({'type': 'string', 'enum': list(PRESETS)})}",
        "      - type: object",
        "        additionalProperties: false",
        "        properties:",
        f"          preset: {_flow({'type': 'string', 'enum': list(PRESETS)})}",
    ]
    lines += [f"          {name}: {_flow(kind(switch.choices))}" for name, switch in SWITCHES.items()]
    return "\n".join(lines)
