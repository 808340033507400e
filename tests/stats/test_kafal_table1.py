"""KAFAL Table 1 (rounds to reach the reference update's accuracy) against hand-traced curves, with
its published cells matched and the study's configuration checked."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fal.config.base import ConfigError
from fal.formats import METRICS_SCHEMA
from fal.plan.catalog import TABLES, dataset_labels
from fal.plan.study import resolve_study
from fal.stats.papers import build_table
from fal.stats.papers.kafal import rounds_to_reach
from fal.stats.published import load_published
from fal.stats.render import to_markdown

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "workflow/published/values.csv"

STRATEGIES = [  # name, label, update variant
    ("kcfu_update_baseline", "Baseline (balanced loss only)", "compensation=False"),
    ("kcfu_update_nomix", "KCFU w/o mix", "mix_unlabelled=False"),
    ("kcfu_update", "KCFU", ""),
]
SETTINGS = {
    "cifar10-alpha0.1-K10": {"dataset": "cifar10", "rho": None, "alpha": 0.1, "num_clients": 10},
    "cifar100-alpha0.1-K10": {"dataset": "cifar100", "rho": None, "alpha": 0.1, "num_clients": 10},
}
SLOPES = {"kcfu_update_baseline": 1.0, "kcfu_update_nomix": 2.0, "kcfu_update": 3.0}
"""Accuracy after round r = slope · r (+ seed offset): KCFU has 45 at round 15, so the baseline needs
round 45 (> 40 rounds: not reached), without mixing round 23 (2 · 23 = 46 >= 45; 2 · 22 = 44 < 45)."""


def info():
    return {
        "dataset_labels": dataset_labels(),
        "multi_label": False,
        "name": "t",
        "description": "",
        "seeds": [1, 2],
        "fidelity": "faithful",
        "protocol": {"initial_ratio": 0.1, "rounds": 40, "model": "kafal_resnet8"},
        "strategies": [
            {
                "name": n,
                "method": "random",
                "label": lab,
                "selector": "–",
                "variant": "",
                **({"update": u} if u else {}),
            }
            for n, lab, u in STRATEGIES
        ],
        "settings": {k: {**v, "model": "kafal_resnet8", "fl_algorithm": "fedavg"} for k, v in SETTINGS.items()},
        "table_ratios": None,
        "analysis": {"reference_strategy": "kcfu_update", "reference_round": 15},
        "compare_published": True,
    }


def metrics(seed_offset: float = 0.0) -> pd.DataFrame:
    rows = []
    for setting, attrs in SETTINGS.items():
        for name, _, _ in STRATEGIES:
            for seed in (1, 2):
                for cycle in (1, 2):  # cycle 2 must be ignored
                    for r in range(1, 41):
                        value = SLOPES[name] * r + (seed - 1.5) * seed_offset + (100 if cycle == 2 else 0)
                        rows.append(
                            {
                                "study": "t",
                                "setting": setting,
                                **attrs,
                                "strategy": name,
                                "method": "random",
                                "selector": "–",
                                "seed": seed,
                                "cycle": cycle,
                                "labelled_ratio": 10.0 * cycle,
                                "round": r,
                                "client": None,
                                "class": None,
                                "metric": "test_acc",
                                "value": value,
                            }
                        )
    frame = pd.DataFrame(rows)
    for col in ("round", "client", "class"):
        frame[col] = frame[col].astype("Int16")
    return frame[METRICS_SCHEMA.names]


def test_rounds_to_reach_by_hand():
    curve = pd.Series([10.0, 20.0, 30.0, 29.0], index=[1, 2, 3, 4])
    assert rounds_to_reach(curve, 25.0) == 3 and rounds_to_reach(curve, 30.0) == 3
    assert np.isnan(rounds_to_reach(curve, 31.0))


def test_cells_by_hand_and_published_values():
    cells, per_seed = build_table(TABLES["kafal_table1"], metrics(), info(), load_published(PUBLISHED))
    text = dict(zip(zip(cells["strategy"], cells["dataset"]), cells["text"]))
    assert text[("kcfu_update", "cifar10")] == "15"
    assert text[("kcfu_update_nomix", "cifar10")] == "23"
    assert text[("kcfu_update_baseline", "cifar100")] == "> 40"
    published = dict(zip(zip(cells["strategy"], cells["dataset"]), cells["published"]))
    assert published == {
        ("kcfu_update_baseline", "cifar10"): "35",
        ("kcfu_update_baseline", "cifar100"): "39",
        ("kcfu_update_nomix", "cifar10"): "25",
        ("kcfu_update_nomix", "cifar100"): "27",
        ("kcfu_update", "cifar10"): "15",
        ("kcfu_update", "cifar100"): "15",
    }
    assert (
        cells.loc[(cells["strategy"] == "kcfu_update_nomix") & (cells["dataset"] == "cifar10"), "difference"].item()
        == -2
    )
    assert len(per_seed) == 2 * 3 * 2 and set(per_seed.loc[per_seed["strategy"] == "kcfu_update", "rounds"]) == {15.0}
    markdown = to_markdown(cells, TABLES["kafal_table1"], "Caption.")
    assert "| | CIFAR-10 | CIFAR-100 |" in markdown
    assert "| KCFU w/o mix [mix_unlabelled=False] | 23 [paper 25, Δ -2.00] | 23 [paper 27, Δ -4.00] |" in markdown


def test_per_seed_benchmarks_are_each_seeds_own():
    # Seed 2 runs 1 point above seed 1 in every curve: each seed's own benchmark moves with it.
    _, per_seed = build_table(TABLES["kafal_table1"], metrics(seed_offset=2.0), info(), None)
    assert set(per_seed.loc[per_seed["strategy"] == "kcfu_update_nomix", "rounds"]) == {23.0}


def test_study_configuration_is_checked():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    study = resolve_study(config, "kafal_table1")
    assert study.num_cycles == 1 and study.uses_paper_protocol and study.protocol.rounds == 50
    broken = copy.deepcopy(config)
    broken["studies"]["kafal_table1"]["analysis"]["reference_strategy"] = "kcfu"
    with pytest.raises(ConfigError, match="studies.kafal_table1.analysis.reference_strategy: kafal_table1 needs"):
        resolve_study(broken, "kafal_table1")
    broken["studies"]["kafal_table1"]["analysis"] = {"reference_strategy": "kcfu_update", "reference_round": 60}
    with pytest.raises(ConfigError, match=r"reference_round: \(60\) must be <= protocol.rounds \(50\)"):
        resolve_study(broken, "kafal_table1")
