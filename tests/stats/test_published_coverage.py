"""Every published number has a study that reproduces it: for each study in config.yaml, its tables are
built from a synthetic metrics table with the study's exact settings, strategies, seeds and cycles
(through the real table builders and their published-value matching), and every row of
workflow/published/values.csv must be matched by some study's cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fal.config import resolve_study
from fal.config.datasets import DATASETS
from fal.stats.papers import build_table
from fal.stats.published import load_published

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
PUBLISHED = load_published(ROOT / "workflow/published/values.csv")


def synthetic_metrics(study) -> pd.DataFrame:
    """The metric rows the tables read, for every (setting, strategy, seed, cycle) the study runs."""
    rng = np.random.default_rng(0)
    rows = []
    protocol = study.protocol
    for setting in study.settings:
        classes = DATASETS[setting.dataset].num_classes
        base = {"setting": setting.id, "dataset": setting.dataset, "rho": setting.rho, "alpha": setting.alpha}
        for strategy in study.strategies:
            for seed in study.seeds:
                for cycle in range(1, study.num_cycles + 1):
                    ratio = round(100 * (protocol.initial_ratio + (cycle - 1) * protocol.query_ratio), 6)
                    key = {
                        **base,
                        "num_clients": setting.num_clients,
                        "strategy": strategy.name,
                        "method": strategy.method,
                        "selector": strategy.selector,
                        "seed": seed,
                        "cycle": cycle,
                        "labelled_ratio": ratio,
                    }
                    acc = 50 + cycle + rng.normal()
                    rows.append({**key, "metric": "final_test_acc", "value": acc})
                    rows += [{**key, "round": r, "metric": "test_acc", "value": acc} for r in range(1, 6)]
                    count = "labelled_count" if cycle == 1 else "queried_count"
                    rows += [
                        {**key, "client": k, "class": c, "metric": count, "value": float(rng.integers(1, 9))}
                        for k in range(setting.num_clients)
                        for c in range(classes)
                    ]
    return pd.DataFrame(rows)


def _sources(cells: pd.DataFrame) -> set[str]:
    if "source" not in cells:
        return set()
    found = set(cells.loc[cells["published"].astype(str) != "", "source"])
    return {s for s in found if s}


@pytest.fixture(scope="module")
def matched() -> dict[str, set[str]]:
    """Study name → the published sources its tables match."""
    out = {}
    for name in CONFIG["studies"]:
        study = resolve_study(CONFIG, name)
        info = {**study.analysis_info(), "compare_published": True}
        metrics = synthetic_metrics(study)
        out[name] = set()
        for table in study.tables:
            cells, _ = build_table(table, metrics, info, PUBLISHED)
            out[name] |= _sources(cells)
    return out


def row_source(row) -> str:
    return f"{row['paper']} Table {row['table']}, row {row['row']}, column {row['column']}"


def test_every_published_row_has_a_producing_study(matched):
    produced = set().union(*matched.values())
    rows = PUBLISHED[PUBLISHED["paper"] != "paper"]
    missing = [row_source(r) for _, r in rows.iterrows() if row_source(r) not in produced]
    assert len(rows) >= 850
    assert not missing, f"{len(missing)} of {len(rows)} published rows have no producing study: {missing[:8]}"


def test_the_check_would_notice_a_missing_study(matched):
    """Without the LoGo PathMNIST study its 48 published cells are unproduced."""
    others = set().union(*(v for k, v in matched.items() if k != "logo_table3_pathmnist"))
    rows = PUBLISHED[(PUBLISHED["paper"] == "LoGo") & (PUBLISHED["dataset"] == "pathmnist")]
    assert len(rows) == 48 and not any(row_source(r) in others for _, r in rows.iterrows())
