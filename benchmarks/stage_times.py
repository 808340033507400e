"""Summarise a study's Snakemake benchmark files per rule (wall time, CPU time, peak memory).

    .venv/bin/python benchmarks/stage_times.py results/quick/benchmarks

Each rule writes one TSV per job under results/<study>/benchmarks/<rule>/...; this prints, per rule,
the number of jobs, their summed and mean wall seconds, summed CPU seconds and the largest RSS.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def stage_times(root: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0].removesuffix(".tsv")
        table = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "rule": rule,
                "wall_s": table["s"].iloc[-1],
                "cpu_s": table["cpu_time"].iloc[-1],
                "max_rss_mb": table["max_rss"].iloc[-1],
            }
        )
    if not rows:
        raise SystemExit(f"no benchmark files under {root}")
    jobs = pd.DataFrame(rows)
    summary = jobs.groupby("rule").agg(
        jobs=("wall_s", "size"),
        wall_s_sum=("wall_s", "sum"),
        wall_s_mean=("wall_s", "mean"),
        wall_s_max=("wall_s", "max"),
        cpu_s_sum=("cpu_s", "sum"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    summary.loc["total"] = [
        summary["jobs"].sum(),
        summary["wall_s_sum"].sum(),
        float("nan"),
        summary["wall_s_max"].max(),
        summary["cpu_s_sum"].sum(),
        summary["max_rss_mb"].max(),
    ]
    return summary.sort_values("wall_s_sum", ascending=False)


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/quick/benchmarks")
    print(stage_times(root).round(1).to_string())
