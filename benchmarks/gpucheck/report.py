"""The GPU check's report: gpu_check.json and gpu_check.md."""

from __future__ import annotations

import json
from pathlib import Path

from gpucheck.full_run import PAPER_FAIRFAL_FMNIST

# ------------------------------------------------------------------------------------------------
# report


def write_reports(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    lines = [f"# GPU check ({'smoke, ' if report['smoke'] else ''}{report['environment'].get('device')})", ""]
    env = report["environment"]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += ["", f"Budget {report['budget_s']} s, used {report['elapsed_s']} s.", "", "## Correctness", ""]
    lines += ["| check | status | detail |", "|---|---|---|"]
    for row in report["correctness"]:
        detail = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("check", "status"))
        lines.append(f"| {row['check']} | {row['status']} | {detail} |")
    lines += [
        "",
        "## Speed (seconds per round)",
        "",
        "| labelled | config | precision | first round s | round s | accuracy | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["speed"]:
        lines.append(
            f"| {row['labelled']:.0%} | {row['config']} | {row['precision']} | {row.get('first_round_s', '')} | "
            f"{row.get('round_s', '')} | {row.get('accuracy', '')} | {row['status']} |"
        )
    full = report["full_run"]
    lines += [
        "",
        "## One FairFAL run (stage functions)",
        "",
        f"Status: {full.get('status')}; total {full.get('seconds', '–')} s; config {full.get('config', '–')}.",
        "",
    ]
    if full.get("stages"):
        lines += ["| stage | labelled | train s | query s | accuracy |", "|---|---|---|---|---|"]
        for s in full["stages"]:
            lines.append(
                f"| {s['stage']} | {s.get('labelled_ratio', '')} | {s.get('train_s', s.get('seconds', ''))} | {s.get('query_s', '')} | {s.get('accuracy', s.get('status', ''))} |"
            )
        if full.get("published"):
            lines += ["", f"Published ({PAPER_FAIRFAL_FMNIST}): {full['published']}"]
    lines += [
        "",
        "## Concurrency (cycle-1 trainings as separate processes)",
        "",
        "| processes | wall s | runs per hour | status |",
        "|---|---|---|---|",
    ]
    for row in report["concurrency"]:
        lines.append(
            f"| {row['processes']} | {row.get('wall_s', '')} | {row.get('runs_per_hour', '')} | {row['status']} |"
        )
    proj = report["projection"]
    lines += ["", "## Projection", "", proj.get("method", ""), ""]
    for k, v in proj.items():
        if k not in ("method", "studies"):
            lines.append(f"- {k}: {v}")
    for k, v in proj.get("studies", {}).items():
        lines.append(f"- {k}: {v} GPU-hours")
    lines += ["", "## Skipped", ""] + ([f"- {s}" for s in report["skipped"]] or ["- nothing"])
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")
