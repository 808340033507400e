"""What code a workflow job runs, found from the source, and a hash of it that ignores non-behaviour.

Snakemake does not know which ``fal`` modules a rule's script imports, so each rule carries a code hash
in its params. The hash covers exactly the ``fal`` modules the script imports, transitively (found by
reading ``import`` statements, function-level ones included, with every parent package's
``__init__``), plus modules the caller names for imports made by name at run time (a strategy's method
module, an FL algorithm's module). Each file is hashed in a normalised form: its syntax tree without
docstrings or other bare string statements, so comments, docstrings, blank lines and formatting change
nothing. Standard library only: the Snakefile calls it on every parse.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from fal.json_store import JsonStore

PACKAGE = "fal"


def module_file(root: Path, module: str) -> Path | None:
    """The source file of a ``fal`` module (``pkg/__init__.py`` for a package); None when it is not one."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = Path(root, *module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _package_of(root: Path, path: Path) -> str:
    """Dotted package a file belongs to (for relative imports); '' for files outside ``fal``."""
    rel = path.resolve().relative_to(Path(root).resolve()) if path.is_absolute() else path
    parts = list(rel.with_suffix("").parts)
    if not parts or parts[0] != PACKAGE:
        return ""
    return ".".join(parts[:-1])  # a module's package, and also a package's own for its __init__


def _is_type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports for annotations only, never run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks (their ``else`` runs)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking_block(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _imported_names(tree: ast.AST, package: str) -> set[str]:
    """Module names an ``import`` could load, including ``from m import x`` as ``m.x`` (x may be a module);
    imports under ``if TYPE_CHECKING:`` never run and are left out."""
    names: set[str] = set()
    for node in _run_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _normalised_digest(tree: ast.AST) -> str:
    """SHA-256 of the syntax tree without docstrings and bare string statements (comments and layout
    never reach the tree): equal for two versions of a file that differ only in those. Mutates ``tree``."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [
                stmt
                for stmt in body
                if not (
                    isinstance(stmt, ast.Expr)
                    and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)
                )
            ]
            node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]  # nodes with a docstring have a body
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


@cache
def _analyse(relpath: str, text: str) -> tuple[tuple[str, ...], str]:
    """A file's facts from one parse: every module name its imports could load (with their parent
    packages; which of them exist is decided at use time) and its normalised digest. A pure function of
    the path and the content, so a memo keyed by them, in memory or on disk, can never be stale."""
    tree = ast.parse(text, filename=relpath)
    names = sorted(
        {m for name in _imported_names(tree, _package_of(Path("."), Path(relpath))) for m in _with_parents(name)}
    )
    return tuple(names), _normalised_digest(tree)


class SourceFacts:
    """Each file's facts (``_analyse``), kept in ``path`` between runs keyed by the file's content
    digest: a Snakefile parse then re-reads only the files that changed (each file is still read and
    hashed, so an edit is always seen). ``save`` writes them back (the workflow does in real runs only:
    a dry run changes no file)."""

    def __init__(self, path: Path | None = None):
        self.store = JsonStore(path)
        self.hashes: dict[tuple, str] = {}  # code_hash's answers: files do not change during one parse

    def facts(self, root: Path, file: Path) -> tuple[tuple[str, ...], str]:
        raw = file.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        rel = file.resolve().relative_to(root.resolve()).as_posix() if file.is_absolute() else file.as_posix()
        cached = self.store.get(rel)
        if cached and cached[0] == sha:
            return tuple(cached[1]), str(cached[2])
        names, digest = _analyse(rel, raw.decode())
        self.store.put(rel, [sha, list(names), digest])
        return names, digest

    def save(self) -> None:
        self.store.save()


def _direct_imports(root: Path, path: Path, facts: SourceFacts) -> tuple[str, ...]:
    names, _ = facts.facts(root, path)
    return tuple(m for m in names if module_file(root, m) is not None)


def imported_modules(
    root: Path, entry_files: Iterable[Path | str] = (), modules: Iterable[str] = (), facts: SourceFacts | None = None
) -> list[str]:
    """Every ``fal`` module that running ``entry_files`` and importing ``modules`` loads, transitively."""
    root = Path(root)
    facts = facts if facts is not None else SourceFacts()
    seen: set[str] = set()
    todo = [Path(root, f) for f in entry_files]
    pending_modules = [m for name in modules for m in _with_parents(name)]
    while todo or pending_modules:
        while pending_modules:
            module = pending_modules.pop()
            if module in seen:
                continue
            path = module_file(root, module)
            if path is None:
                raise ValueError(f"{module} is not a module of {PACKAGE}/ under {root}")
            seen.add(module)
            todo.append(path)
        if todo:
            path = todo.pop()
            pending_modules.extend(m for m in _direct_imports(root, path, facts) if m not in seen)
    return sorted(seen)


def code_files(
    root: Path, entry_files: Iterable[Path | str] = (), modules: Iterable[str] = (), facts: SourceFacts | None = None
) -> list[str]:
    """Project-relative paths of the entry files and every module they load (what a code hash covers)."""
    root = Path(root)
    files = {str(Path(f)) for f in entry_files}
    for module in imported_modules(root, entry_files, modules, facts):
        path = module_file(root, module)
        if path is not None:
            files.add(str(path.relative_to(root)))
    return sorted(files)


def code_hash(
    root: Path, entry_files: Iterable[Path | str] = (), modules: Iterable[str] = (), facts: SourceFacts | None = None
) -> str:
    """A short hash of the normalised source of ``code_files``: it changes when behaviour can change.
    ``facts`` (optional, one per Snakefile parse) keeps the files' analyses between runs and the
    answers within the parse."""
    root = Path(root)
    facts = facts if facts is not None else SourceFacts()
    key = (str(root), tuple(str(f) for f in entry_files), tuple(sorted(modules)))
    if key not in facts.hashes:
        h = hashlib.sha256()
        for rel in code_files(root, entry_files, modules, facts):
            h.update(rel.encode() + b"\0")
            h.update(facts.facts(root, root / rel)[1].encode() + b"\0")
        facts.hashes[key] = h.hexdigest()[:16]
    return facts.hashes[key]
