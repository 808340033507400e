"""Compare a study's regenerated reports with the committed reference (``make verify``; the end of ``make run``).

The reference is committed apart from what a run writes (``reports/reference/<study>/``), so a run never
changes it. The answer is one of: identical byte for byte; or different, by how much against the spread
over seeds (a difference far inside one seed standard deviation is the floating-point noise of another
machine, not a broken install), with the likely reason read from the two ``provenance.json``
fingerprints. It exits 0 either way (it informs); ``--strict`` exits 1 when the numbers differ.

    python -m fal.stats.verify --study quick [--reports reports] [--reference reports/reference] [--strict]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pandas as pd

from fal.provenance import describe, likely_reason

COMPARED = ("table_accuracy.csv", "table_accuracy.md", "provenance.json")
KEYS = ["setting", "strategy", "labelled_ratio"]


def reference_text(path: Path) -> str | None:
    """The reference file's text (None when there is none)."""
    return path.read_text() if path.is_file() else None


def compare_tables(committed: pd.DataFrame, current: pd.DataFrame) -> dict:
    """Cell-by-cell differences of the mean accuracy, scaled by the committed seed sd."""
    merged = committed.merge(current, on=KEYS, how="outer", suffixes=("_committed", "_current"), indicator=True)
    both = merged[merged["_merge"] == "both"].copy()
    both["delta"] = both["mean_current"] - both["mean_committed"]
    spread = both["std_committed"].where(both["std_committed"] > 0)
    both["in_sd"] = (both["delta"].abs() / spread).fillna(0.0)
    changed = both[both["delta"].abs() > 1e-9]
    return {
        "cells": len(both),
        "changed": len(changed),
        "only_committed": int((merged["_merge"] == "left_only").sum()),
        "only_current": int((merged["_merge"] == "right_only").sum()),
        "max_abs_delta": float(changed["delta"].abs().max()) if len(changed) else 0.0,
        "mean_abs_delta": float(changed["delta"].abs().mean()) if len(changed) else 0.0,
        "max_in_sd": float(changed["in_sd"].max()) if len(changed) else 0.0,
        "within_one_sd": int((changed["in_sd"] <= 1.0).sum()),
        "largest": changed.reindex(changed["delta"].abs().sort_values(ascending=False).index).head(3),
    }


def verify_study(study: str, reports: Path, reference: Path) -> tuple[str, bool]:
    """The report on one study and whether its numbers equal the reference's."""
    folder = reports / study
    missing = [name for name in COMPARED if not (folder / name).is_file()]
    if missing:
        return f"{folder}: {', '.join(missing)} not found; run `make run` first.", False
    committed = {name: reference_text(reference / study / name) for name in COMPARED}
    revision = f"{reference / study}"
    if committed["table_accuracy.csv"] is None:
        return f"{reference / study}/table_accuracy.csv does not exist: nothing to compare with.", False
    current = {name: (folder / name).read_text() for name in COMPARED}
    if all(committed[name] == current[name] for name in COMPARED):
        return f"{study}: identical to the reference reports ({revision}), byte for byte.", True
    old_env = json.loads(committed["provenance.json"]) if committed["provenance.json"] else []
    new_env = json.loads(current["provenance.json"])
    if committed["table_accuracy.csv"] == current["table_accuracy.csv"]:
        return (
            f"{study}: the numbers are identical to the reference reports ({revision}); only the "
            f"environment lines differ ({likely_reason(old_env, new_env)}).",
            True,
        )
    diff = compare_tables(
        pd.read_csv(io.StringIO(committed["table_accuracy.csv"])),
        pd.read_csv(io.StringIO(current["table_accuracy.csv"])),
    )
    lines = [
        f"{study}: {diff['changed']} of {diff['cells']} cells differ from the reference reports ({revision}): "
        f"|Δ| max {diff['max_abs_delta']:.2f}, mean {diff['mean_abs_delta']:.2f} points; "
        f"{diff['within_one_sd']} of {diff['changed']} within one seed sd (largest {diff['max_in_sd']:.2f} sd).",
    ]
    if diff["only_committed"] or diff["only_current"]:
        lines.append(
            f"  cells only in the committed table: {diff['only_committed']}, only in yours: {diff['only_current']} "
            "(the study's configuration differs)"
        )
    for _, row in diff["largest"].iterrows():
        lines.append(
            f"  {row['strategy']} at {row['labelled_ratio']:g}% ({row['setting']}): "
            f"{row['mean_committed']:.2f} → {row['mean_current']:.2f} (seed sd {row['std_committed']:.2f})"
        )
    lines += [
        f"  likely reason: {likely_reason(old_env, new_env)}",
        f"  reference: {describe(old_env)}",
        f"  yours:     {describe(new_env)}",
    ]
    return "\n".join(lines), False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", default=None, help="study name (repeatable; default quick)")
    parser.add_argument("--reports", default="reports", type=Path, help="the reports folder (paths.reports)")
    parser.add_argument(
        "--reference", default="reports/reference", type=Path, help="the committed reference reports' folder"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the numbers differ")
    args = parser.parse_args(argv)
    same = True
    for study in args.study or ["quick"]:
        text, equal = verify_study(study, args.reports, args.reference)
        print(text)
        same &= equal
    return 0 if same or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
