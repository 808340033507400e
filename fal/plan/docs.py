"""The generated parts of the documentation and of the configuration schema, derived from the
declarations (one declaration per fact).

Each block sits between ``<!-- <name>:begin ... -->`` and ``<!-- <name>:end -->`` in a file under
``docs/`` (``# <name>:begin`` … ``# <name>:end`` in the YAML schema); ``python -m fal.plan.docs``
rewrites them all from the code and ``config.yaml``, and ``python -m fal.plan.docs --check`` (and
tests/test_docs.py) fails when one is out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fal.config.fidelity import SWITCHES
from fal.plan.catalog import ALGORITHMS, DATASETS, FIGURES, METHODS, SOURCES, TABLES, strategy_updates
from fal.plan.config_schema import federated_block, fidelity_block
from fal.registry import Declaration

ROOT = Path(__file__).resolve().parents[2]


def options_markdown(declarations: Mapping[str, Declaration] | None = None, kind: str = "method") -> str:
    """Every option of ``declarations`` (default: every method): its owner, name, default, allowed
    values and meaning."""
    rows = [f"| {kind} | option | default | allowed | meaning |", "|---|---|---|---|---|"]
    for info in (METHODS if declarations is None else declarations).values():
        for option in info.options:
            only = " (multi-label data only)" if option.multi_label_only else ""
            rows.append(
                f"| `{info.name}` | `{option.name}` | `{option.default}` | {option.allowed()} | {option.meaning}{only} |"
            )
    return "\n".join(rows)


def methods_markdown(strategies: Mapping[str, Any]) -> str:
    """Every declared method: its name, label, query models, what it does, where it is specified, and
    the strategies of config.yaml that use it (``strategies``: config.yaml's block)."""
    rows = [
        "| method | label | query model | what it does | spec | strategies in config.yaml |",
        "|---|---|---|---|---|---|",
    ]
    for name, info in METHODS.items():
        users = sorted(n for n, entry in strategies.items() if (entry or {}).get("method") == name)
        models = " / ".join(info.query_models) if info.query_models else f"– ({info.selector})"
        used = ", ".join(f"`{n}`" for n in users) or "–"
        rows.append(f"| `{name}` | {info.label} | {models} | {info.summary} | {info.spec} | {used} |")
    return "\n".join(rows)


def update_options_markdown() -> str:
    """Every option of the FL updates a strategy brings itself (``federated: {algorithm: ...}``)."""
    updates = {name: ALGORITHMS[name] for name in strategy_updates() if ALGORITHMS[name].options}
    return options_markdown(updates, "update")


def switches_markdown() -> str:
    """Every fidelity switch: its faithful and corrected values, the jobs that read it, its meaning."""
    rows = ["| switch | faithful (official code) | corrected | read by | meaning |", "|---|---|---|---|---|"]
    readers: dict[str, list[str]] = {}
    for info in [*METHODS.values(), *ALGORITHMS.values()]:
        for name in info.reads:
            readers.setdefault(name.removeprefix("fidelity."), []).append(info.name)
    for name, switch in SWITCHES.items():
        faithful = preset_value(name, "faithful")
        stages = ", ".join(switch.read_by)
        if switch.declared:
            stages += " (" + ", ".join(f"`{reader}`" for reader in sorted(readers.get(name, []))) + " only)"
        rows.append(f"| `{name}` | `{faithful}` | `{switch.corrected}` | {stages} | {switch.meaning} |")
    return "\n".join(rows)


def preset_value(name: str, preset: str) -> object:
    from fal.config.fidelity import preset_values

    return preset_values(preset)[name]


def paper_catalog(studies: Mapping[str, Any]) -> str:
    """Each paper table and figure → the study that produces it → its target → what it needs.
    ``studies``: name → ``fal.config.Study`` (resolved from config.yaml)."""
    rows = ["| paper output | study | target | needs |", "|---|---|---|---|"]
    for name, study in studies.items():
        if not study.uses_paper_protocol or study.analysis.compare_published is False:
            continue  # reduced protocols (the quick preset) and other data reproduce nothing published
        downloads = sorted({DATASETS[s.dataset].source for s in study.settings} - {"fmnist"})
        needs = "GPU" + (f", downloads: {', '.join(downloads)}" if downloads else "")
        outputs = [(TABLES[t].paper_output, f"reports/tables/{name}/{t}.md") for t in study.tables]
        outputs += [(FIGURES[f].paper_output, f"reports/figures/{name}/{f}.png") for f in study.figures]
        for label, target in outputs:
            rows.append(f"| {label} | `{name}` | `{target}` | {needs} |")
    return "\n".join(rows)


def datasets_markdown() -> str:
    """Every dataset key: its source, classes, image shape, long tail, the module that reads it."""
    rows = [
        "| dataset | source | classes | images | long-tailed (ρ) | train / test images | module |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, spec in sorted(DATASETS.items()):
        source = SOURCES[spec.source]
        rows.append(
            f"| `{key}` | `{spec.source}` | {spec.num_classes} | {spec.channels}×{spec.image_size}×{spec.image_size} "
            f"| {'yes' if spec.long_tailed else 'no'} | {source.num_train:,} / {source.num_test:,} "
            f"| `{source.module.replace('.', '/')}.py` |"
        )
    return "\n".join(rows)


def _config() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((ROOT / "config.yaml").read_text()))


def _studies() -> dict[str, Any]:
    from fal.plan.study import resolve_study

    config = _config()
    return {name: resolve_study(config, name) for name in config["studies"]}


SCHEMA = "workflow/schemas/config.schema.yaml"

BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "methods": ("docs/methods.md", lambda: methods_markdown(_config()["strategies"])),
    "method-options": ("docs/methods.md", lambda: options_markdown()),
    "update-options": ("docs/methods.md", update_options_markdown),
    "fidelity-switches": ("docs/methods.md", switches_markdown),
    "paper-catalog": ("docs/paper-catalog.md", lambda: paper_catalog(_studies())),
    "datasets": ("docs/configuration.md", datasets_markdown),
    "schema-federated": (SCHEMA, federated_block),
    "schema-fidelity": (SCHEMA, fidelity_block),
}
"""Generated block name → (file, what generates it)."""


def block_pattern(name: str, relpath: str = "") -> re.Pattern:
    """The block's markers: HTML comments in Markdown, ``#`` comments in YAML."""
    if relpath.endswith(".yaml"):
        return re.compile(rf"(# {re.escape(name)}:begin[^\n]*\n)(.*?)(\n[ \t]*# {re.escape(name)}:end)", re.S)
    return re.compile(rf"(<!-- {re.escape(name)}:begin[^\n]*-->\n)(.*?)(<!-- {re.escape(name)}:end -->)", re.S)


def current_block(text: str, name: str, relpath: str = "") -> str | None:
    match = block_pattern(name, relpath).search(text)
    return None if match is None else match.group(2).strip()


def regenerate(root: Path = ROOT, check: bool = False) -> list[str]:
    """Rewrite every generated block (or, with ``check``, only report the stale ones); the files changed."""
    stale = []
    for name, (relpath, generate) in BLOCKS.items():
        path = root / relpath
        text = path.read_text()
        match = block_pattern(name, relpath).search(text)
        if match is None:
            raise ValueError(f"{relpath} has no {name}:begin … {name}:end block")
        tail = "" if relpath.endswith(".yaml") else "\n"
        fresh = text[: match.start(2)] + generate() + tail + text[match.end(2) :]
        if fresh != text:
            stale.append(f"{relpath} ({name})")
            if not check:
                path.write_text(fresh)
    return stale


if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    changed = regenerate(check=check)
    if check and changed:
        print("out of date (run `python -m fal.plan.docs`): " + ", ".join(changed))
        sys.exit(1)
    print(("rewrote " + ", ".join(changed)) if changed else "generated documentation is up to date")
