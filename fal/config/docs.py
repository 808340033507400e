"""The generated parts of the documentation, derived from the declarations (one declaration per fact).

Each block sits between ``<!-- <name>:begin ... -->`` and ``<!-- <name>:end -->`` in a file under
``docs/``; ``python -m fal.config.docs`` rewrites them all from the code and ``config.yaml``, and
``python -m fal.config.docs --check`` (and tests/test_docs.py) fails when one is out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fal.config.datasets import DATASETS, SOURCES
from fal.config.methods import METHODS, MethodInfo
from fal.config.outputs import FIGURES, TABLES

ROOT = Path(__file__).resolve().parents[2]


def options_markdown(methods: Mapping[str, MethodInfo] | None = None) -> str:
    """Every method option: method, option, default, allowed values, meaning."""
    rows = ["| method | option | default | allowed | meaning |", "|---|---|---|---|---|"]
    for info in (methods or METHODS).values():
        for option in info.options:
            rows.append(
                f"| `{info.name}` | `{option.name}` | `{option.default}` | {option.allowed()} | {option.meaning} |"
            )
    return "\n".join(rows)


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


def _studies() -> dict[str, Any]:
    import yaml

    from fal.config.study import resolve_study

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    return {name: resolve_study(config, name) for name in config["studies"]}


BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "method-options": ("docs/methods.md", options_markdown),
    "paper-catalog": ("docs/paper-catalog.md", lambda: paper_catalog(_studies())),
    "datasets": ("docs/configuration.md", datasets_markdown),
}
"""Generated block name → (file, what generates it)."""


def block_pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {re.escape(name)}:begin[^\n]*-->\n)(.*?)(<!-- {re.escape(name)}:end -->)", re.S)


def current_block(text: str, name: str) -> str | None:
    match = block_pattern(name).search(text)
    return None if match is None else match.group(2).strip()


def regenerate(root: Path = ROOT, check: bool = False) -> list[str]:
    """Rewrite every generated block (or, with ``check``, only report the stale ones); the files changed."""
    stale = []
    for name, (relpath, generate) in BLOCKS.items():
        path = root / relpath
        text = path.read_text()
        if current_block(text, name) is None:
            raise ValueError(f"{relpath} has no <!-- {name}:begin --> … <!-- {name}:end --> block")
        match = block_pattern(name).search(text)
        assert match is not None
        fresh = text[: match.start(2)] + generate() + "\n" + text[match.end(2) :]
        if fresh != text:
            stale.append(f"{relpath} ({name})")
            if not check:
                path.write_text(fresh)
    return stale


if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    changed = regenerate(check=check)
    if check and changed:
        print("out of date (run `python -m fal.config.docs`): " + ", ".join(changed))
        sys.exit(1)
    print(("rewrote " + ", ".join(changed)) if changed else "generated documentation is up to date")
