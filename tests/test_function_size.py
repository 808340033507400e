"""Small functions: no function of the library or a rule script is longer than 80 lines (ruff's
complexity and statement rules, pyproject.toml, catch the rest; ruff has no length rule)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 80


def test_no_function_over_80_lines():
    long = []
    for path in [*sorted((ROOT / "fal").rglob("*.py")), *sorted((ROOT / "workflow/scripts").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "break these into named steps: " + "; ".join(long)
