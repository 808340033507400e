"""The configuration's structural check against ``workflow/schemas/config.schema.yaml``, in one line.

Snakemake's own ``validate`` message dumps whole sub-schemas; ``schema_problem`` names the key path, the
bad value and what is allowed (with close matches), which is what the workflow raises instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fal.config.base import did_you_mean, unknown_keys

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
    return f"{where}: {error.message}"
