"""Declarations read from source files without importing them: the one mechanism behind every registry.

Every kind of extension declares itself once, beside its code, as a top-level assignment of literals
and declaration types: a method module's ``METHOD = MethodInfo(...)`` (fal/strategies/methods/), a
dataset module's ``SOURCES = (SourceSpec(...),)`` and ``DATASETS = (DatasetSpec(...), ...)``
(fal/data/sources/), a paper module's ``OUTPUTS = (PaperTable(...), ...)`` (fal/stats/papers/,
fal/plots/papers/). The registries in ``fal.config`` find them by parsing those files, so that
configuration stays torch-free and cheap, and adding or editing one module touches no other module's
code (nor its code hash, so no other job reruns).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FAL_ROOT = Path(__file__).resolve().parents[1]
"""The ``fal`` package folder."""


def module_name(path: Path) -> str:
    """Dotted module name of a file inside ``fal``."""
    return ".".join(path.resolve().relative_to(FAL_ROOT.parent).with_suffix("").parts)


def read_declarations(path: Path, variable: str, types: Mapping[str, Any]) -> list[Any]:
    """The values assigned to ``variable`` at the top level of ``path`` (a tuple is flattened),
    evaluated with nothing but ``types`` in scope."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Any] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            namespace = {**types, "__builtins__": {}}
            try:
                value = eval(compile(ast.Expression(node.value), str(path), "eval"), namespace)
            except NameError as exc:
                allowed = ", ".join(sorted(types))
                raise ValueError(
                    f"{path}:{node.lineno}: {variable} may use only literals and {allowed} ({exc})"
                ) from None
            found.extend(value if isinstance(value, tuple) else (value,))
    return found


def modules_in(directory: Path) -> list[Path]:
    """The module files of a declarations folder, in name order (``__init__`` and private modules left out)."""
    return [p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")]
