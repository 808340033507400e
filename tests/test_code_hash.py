"""The code hash a rule carries (fal/code_hash.py): what it covers, what it ignores, and that its
analyses kept on disk between runs can never make it stale."""

from __future__ import annotations

import json
from pathlib import Path

from fal.code_hash import SourceFacts, code_files, code_hash


def project(tmp_path: Path) -> Path:
    (tmp_path / "fal").mkdir()
    (tmp_path / "fal/__init__.py").write_text("")
    (tmp_path / "fal/a.py").write_text('"""A."""\nfrom fal import b\n\nX = b.Y + 1\n')
    (tmp_path / "fal/b.py").write_text("Y = 1\n")
    (tmp_path / "fal/c.py").write_text("Z = 3\n")
    (tmp_path / "script.py").write_text("import fal.a\n")
    return tmp_path


def test_the_hash_covers_the_imported_modules_and_ignores_layout(tmp_path):
    root = project(tmp_path)
    assert code_files(root, ["script.py"]) == ["fal/__init__.py", "fal/a.py", "fal/b.py", "script.py"]
    before = code_hash(root, ["script.py"])
    (root / "fal/b.py").write_text("# a comment\n\nY = 1  # same\n")
    (root / "fal/c.py").write_text("Z = 4\n")  # not imported
    assert code_hash(root, ["script.py"]) == before
    (root / "fal/b.py").write_text("Y = 2\n")
    assert code_hash(root, ["script.py"]) != before


def test_kept_analyses_give_the_same_hash_and_are_never_stale(tmp_path):
    root = project(tmp_path)
    store = tmp_path / ".snakemake/fal-code-hash.json"

    def kept(**kwargs):  # a parse with the store, saved at its end (as a real run does)
        facts = SourceFacts(store)
        answer = code_hash(root, ["script.py"], facts=facts, **kwargs)
        facts.save()
        return answer

    plain = code_hash(root, ["script.py"])
    facts = SourceFacts(store)
    assert code_hash(root, ["script.py"], facts=facts) == plain
    assert not store.exists()  # nothing is written until the workflow saves (a dry run never does)
    facts.save()
    assert set(json.loads(store.read_text())) == {"fal/__init__.py", "fal/a.py", "fal/b.py", "script.py"}
    # an edit is seen although the store holds the old analysis (keyed by content, not by time)
    (root / "fal/b.py").write_text("Y = 2\n")
    assert kept() == code_hash(root, ["script.py"]) != plain
    # a module that did not exist when the importer was analysed counts once it does
    (root / "fal/a.py").write_text("from fal import b, d\n\nX = b.Y + d.W\n")
    assert "fal/d.py" not in code_files(root, ["script.py"], facts=SourceFacts(store))
    kept()
    (root / "fal/d.py").write_text("W = 1\n")
    assert "fal/d.py" in code_files(root, ["script.py"], facts=SourceFacts(store))
    # a damaged store is ignored
    store.write_text("{not json")
    assert code_hash(root, ["script.py"], facts=SourceFacts(store)) == code_hash(root, ["script.py"])
