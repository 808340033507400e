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

from fal.plan.catalog import DATASETS, TABLES
from fal.plan.study import resolve_study
from fal.stats.papers import build_table
from fal.stats.published import load_published

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
PUBLISHED = load_published(ROOT / "workflow/published/values.csv")


def synthetic_metrics(study) -> pd.DataFrame:
    """The metric rows the tables read, for every (setting, strategy, seed, cycle) the study runs
    (built column-wise: the CIFAR-100 studies have millions of per-client, per-class rows)."""
    rng = np.random.default_rng(0)
    protocol = study.protocol
    strategies = {s.name: s for s in study.strategies}
    frames = []
    for setting in study.settings:
        classes = DATASETS[setting.dataset].partition_classes
        runs = pd.MultiIndex.from_product(
            [list(strategies), list(study.seeds), range(1, study.num_cycles + 1)], names=["strategy", "seed", "cycle"]
        ).to_frame(index=False)
        runs["setting"], runs["dataset"], runs["rho"], runs["alpha"] = (
            setting.id,
            setting.dataset,
            setting.rho,
            setting.alpha,
        )
        runs["num_clients"] = setting.num_clients
        runs["method"] = [strategies[n].method for n in runs["strategy"]]
        runs["selector"] = [strategies[n].selector for n in runs["strategy"]]
        runs["labelled_ratio"] = [
            round(100 * (protocol.initial_ratio + (c - 1) * protocol.query_ratio), 6) for c in runs["cycle"]
        ]
        acc = 50 + runs["cycle"] + rng.normal(size=len(runs))
        frames.append(runs.assign(metric="final_test_acc", value=acc))
        frames += [runs.assign(metric="test_acc", value=acc, round=r) for r in range(1, 6)]
        cells = runs.merge(
            pd.MultiIndex.from_product(
                [range(setting.num_clients), range(classes)], names=["client", "class"]
            ).to_frame(index=False),
            how="cross",
        )
        cells["metric"] = np.where(cells["cycle"] == 1, "labelled_count", "queried_count")
        cells["value"] = rng.integers(1, 9, size=len(cells)).astype(float)
        frames.append(cells)
    return pd.concat(frames, ignore_index=True)


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
            cells, _ = build_table(TABLES[table], metrics, info, PUBLISHED)
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
