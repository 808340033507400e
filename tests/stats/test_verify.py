"""`make verify`: the regenerated quick reports against the committed reference (reports/reference/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fal.stats.verify import main, verify_study

AMD = {"torch": "2.14.1", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "jobs": 5}


def table(values):
    return pd.DataFrame(
        {
            "setting": ["s"] * len(values),
            "strategy": [f"m{i}" for i in range(len(values))],
            "method": ["M"] * len(values),
            "selector": ["G"] * len(values),
            "labelled_ratio": [10.0] * len(values),
            "mean": values,
            "std": [2.0] * len(values),
            "n_seeds": [3] * len(values),
        }
    )


def write_reports(root: Path, values, environment, folder_name: str = "reports") -> None:
    folder = root / folder_name / "quick"
    folder.mkdir(parents=True, exist_ok=True)
    table(values).to_csv(folder / "table_accuracy.csv", index=False, float_format="%.4f")
    (folder / "table_accuracy.md").write_text(f"# table\n{values}\n")
    (folder / "provenance.json").write_text(json.dumps(environment))


REFERENCE = Path("reports/reference")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A run's reports equal to the reference (a fresh `make run` on the reference's machine)."""
    monkeypatch.chdir(tmp_path)
    write_reports(tmp_path, [40.0, 50.0], [AMD])
    write_reports(tmp_path, [40.0, 50.0], [AMD], "reports/reference")
    return tmp_path


def test_identical_reports_say_so(repo):
    text, equal = verify_study("quick", Path("reports"), REFERENCE)
    assert equal and "identical" in text and "byte for byte" in text


def test_other_machine_differences_are_sized_against_the_seed_spread_with_the_reason(repo, capsys):
    write_reports(repo, [40.5, 50.0], [{**AMD, "cpu": "Intel Xeon", "cpu_capability": "AVX2"}])
    text, equal = verify_study("quick", Path("reports"), REFERENCE)
    assert not equal
    assert "1 of 2 cells differ" in text and "|Δ| max 0.50" in text and "1 of 1 within one seed sd" in text
    assert "m0 at 10% (s): 40.00 → 40.50 (seed sd 2.00)" in text
    assert "cpu_capability AVX512 → AVX2" in text
    assert main(["--study", "quick"]) == 0  # informs, does not fail `make run`
    assert main(["--study", "quick", "--strict"]) == 1
    capsys.readouterr()


def test_same_machine_differences_point_at_local_changes(repo):
    write_reports(repo, [44.0, 50.0], [AMD])
    text, _ = verify_study("quick", Path("reports"), REFERENCE)
    assert "2.00 sd" in text and "not explained by the machine" in text


def test_only_the_environment_line_differing_keeps_the_numbers_equal(repo):
    folder = repo / "reports" / "quick"
    (folder / "provenance.json").write_text(json.dumps([{**AMD, "torch": "2.15.0"}]))
    text, equal = verify_study("quick", Path("reports"), REFERENCE)
    assert equal and "numbers are identical" in text and "torch 2.14.1 → 2.15.0" in text


def test_missing_reports_say_what_to_run(repo):
    shutil.rmtree(repo / "reports" / "quick")
    text, equal = verify_study("quick", Path("reports"), REFERENCE)
    assert not equal and "run `make run` first" in text


def test_a_run_never_writes_the_reference(repo):
    """The reference sits apart from what a run writes: a run's new numbers leave it as committed."""
    reference = (repo / "reports/reference/quick/table_accuracy.csv").read_bytes()
    write_reports(repo, [41.0, 52.0], [AMD])  # what `make run` rewrites: reports/quick/
    assert (repo / "reports/reference/quick/table_accuracy.csv").read_bytes() == reference
