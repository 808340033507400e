"""Check config.yaml and override files before any run: ``python -m fal.plan.check [FILE ...]``.

Snakemake reads ``--configfile`` overrides itself, before the workflow, and a YAML syntax error in one
gives only "Config file is not valid JSON or YAML". This names the file, line and column, then checks the
merged configuration as the workflow does (schema, study resolution), each problem as one line that names
the file and the key first. Exit status 0 when everything resolves, 1 otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fal.config.base import ConfigError
from fal.plan.config_schema import check_yaml_file, origin_of, schema_problem

ROOT = Path(__file__).resolve().parents[2]


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` as Snakemake merges a --configfile: mappings key by key."""
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
        )
    return out


def check(files: list[Path], project: Path = ROOT) -> str | None:
    """The first problem of config.yaml with ``files`` merged in, as one line; None when all resolve."""
    import yaml

    from fal.plan.study import resolve_studies

    layers: list[tuple[str, dict[str, Any]]] = []
    for path in [project / "config.yaml", *files]:
        try:
            check_yaml_file(path)
        except ConfigError as exc:
            return str(exc)
        layers.append((str(path if path in files else "config.yaml"), yaml.safe_load(path.read_text()) or {}))
    config: dict[str, Any] = {}
    for _, layer in layers:
        config = merged(config, layer)
    problem = schema_problem(config)
    if problem is None:
        try:
            resolve_studies(config)
        except ConfigError as exc:
            problem = str(exc)
    return None if problem is None else f"{origin_of(problem, layers)}: {problem}"


def main(argv: list[str] | None = None) -> int:
    files = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    problem = check(files)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    print("configuration OK: config.yaml" + "".join(f" + {f}" for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
