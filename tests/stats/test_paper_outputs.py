"""Paper tables and figures from a small synthetic metrics Parquet, against checked-in expected files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fal.formats import METRICS_SCHEMA
from fal.io import read_parquet, write_parquet
from fal.plan.captions import describe_study
from fal.plan.catalog import FIGURES, TABLES, dataset_labels
from fal.plots.panels import class_groups, sampling_shares
from fal.plots.papers import build_figure
from fal.stats.papers import build_table
from fal.stats.published import load_published
from fal.stats.render import to_latex, to_markdown

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "fixtures"
PUBLISHED = ROOT / "workflow/published/values.csv"
STRATEGIES = [
    ("random", "random", "Random", "–"),
    ("entropy_g", "entropy", "Entropy", "G"),
    ("entropy_l", "entropy", "Entropy", "L"),
    ("fairfal", "fairfal", "FairFAL", "G, L"),
]
SETTINGS = {
    f"cifar10_lt-rho20-alpha{a:g}-K10": {
        "dataset": "cifar10_lt",
        "rho": 20,
        "alpha": a,
        "num_clients": 10,
        "model": "cnn4conv",
        "fl_algorithm": "fedavg",
    }
    for a in (0.1, 100.0)
}


def synthetic_info(compare=True):
    return {
        "dataset_labels": dataset_labels(),
        "multi_label": False,
        "name": "synthetic",
        "description": "Synthetic metrics for tests.",
        "seeds": [1, 2, 3, 4, 5],
        "fidelity": "faithful",
        "protocol": {
            "rounds": 2,
            "local_epochs": 1,
            "lr": 0.01,
            "batch_size": 64,
            "model": "cnn4conv",
            "initial_ratio": 0.05,
            "query_ratio": 0.05,
            "end_ratio": 0.45,
        },
        "strategies": [
            {"name": n, "method": m, "label": lab, "selector": sel, "variant": ""} for n, m, lab, sel in STRATEGIES
        ],
        "settings": SETTINGS,
        "table_ratios": [15, 25, 35, 45],
        "analysis": {},
        "compare_published": compare,
    }


def synthetic_metrics() -> pd.DataFrame:
    """9 cycles (5 … 45 %), 5 seeds, 2 clients, 3 classes; accuracy = 40 + cycle + method offset + seed term."""
    offsets = {"random": 0.0, "entropy_g": 1.0, "entropy_l": 2.0, "fairfal": 3.0}
    rows = []
    for s_index, (setting, attrs) in enumerate(SETTINGS.items()):
        for strategy, _method, label, selector in STRATEGIES:
            for seed in range(1, 6):
                for cycle in range(1, 10):
                    acc = (
                        40.0
                        + 2 * cycle
                        + (offsets[strategy] if cycle > 1 else 0.0)
                        + 0.1 * seed * (strategy == "entropy_l")
                        + 0.3 * seed
                        + 5 * s_index
                    )
                    base = {
                        "study": "synthetic",
                        "setting": setting,
                        "dataset": attrs["dataset"],
                        "rho": 20.0,
                        "alpha": attrs["alpha"],
                        "num_clients": 10,
                        "strategy": strategy,
                        "method": label,
                        "selector": selector,
                        "seed": seed,
                        "cycle": cycle,
                        "labelled_ratio": 5.0 * cycle,
                        "round": None,
                        "client": None,
                        "class": None,
                    }
                    rows.append({**base, "metric": "final_test_acc", "value": acc})
                    for rnd in (1, 2):
                        rows.append({**base, "round": rnd, "metric": "test_acc", "value": acc - (2 - rnd)})
                    for client in (0, 1):
                        for cls in range(3):
                            counts = (
                                [4.0, 2.0, 1.0]
                                if cycle == 1
                                else ([3.0, 0.0, 0.0] if strategy == "random" else [1.0, 1.0, 1.0 + client])
                            )
                            metric = "labelled_count" if cycle == 1 else "queried_count"
                            rows.append(
                                {**base, "client": client, "class": cls, "metric": metric, "value": counts[cls]}
                            )
    df = pd.DataFrame(rows)
    for col in ("round", "client", "class"):
        df[col] = df[col].astype("Int16")
    return df[METRICS_SCHEMA.names]


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "metrics.parquet"
    write_parquet(synthetic_metrics(), path, METRICS_SCHEMA)
    return read_parquet(path, METRICS_SCHEMA)


def test_every_declared_output_has_its_builder():
    """Each paper module's declarations name a function of that module (the one list is the declarations)."""
    import importlib

    assert {"table1", "table5_6", "logo_table2", "kafal_table1"} <= set(TABLES)
    assert {"figure1", "figure4", "logo_penalty"} <= set(FIGURES)
    for output in [*TABLES.values(), *FIGURES.values()]:
        assert callable(getattr(importlib.import_module(output.module), output.entry, None)), output


@pytest.mark.parametrize("name", ["table5_6", "table1", "logo_table2"])
def test_table_equals_checked_in_expected_file(metrics, name):
    cells, _ = build_table(TABLES[name], metrics, synthetic_info(), load_published(PUBLISHED))
    text = to_markdown(cells, TABLES[name], "Synthetic study.")
    expected = (DATA / f"expected_{name}.md").read_text()
    assert text == expected


def test_table5_6_values_and_published_differences(metrics):
    cells, per_seed = build_table(TABLES["table5_6"], metrics, synthetic_info(), load_published(PUBLISHED))
    cell = cells[(cells["strategy"] == "fairfal") & (cells["alpha"] == 0.1) & (cells["labelled_ratio"] == 15)].iloc[0]
    assert cell["mean"] == pytest.approx(40 + 6 + 3 + 0.9)  # seeds 1..5: mean of 0.3·seed = 0.9
    assert cell["published_value"] == pytest.approx(52.12) and cell["difference"] == pytest.approx(49.9 - 52.12)
    assert "Table 5" in cell["source"]
    assert set(cells["labelled_ratio"]) == {15, 25, 35, 45}
    assert len(per_seed) == 2 * 4 * 5 * 4  # settings × strategies × seeds × ratios
    # without comparison the published columns stay empty
    cells, _ = build_table(TABLES["table5_6"], metrics, synthetic_info(compare=False), load_published(PUBLISHED))
    assert (cells["published"] == "").all()


def test_table1_statistics_from_synthetic_aulc(metrics):
    cells, areas = build_table(TABLES["table1"], metrics, synthetic_info(), load_published(PUBLISHED))
    row = cells[cells["alpha"] == 0.1].iloc[0]
    # L − G = 0.1·s at 5 % and 1 + 0.1·s from 10 %: trapezoid gap = 40·(1 + 0.1 s) − 2.5 = 37.5 + 4 s
    gaps = [37.5 + 4 * s for s in range(1, 6)]
    assert np.median(gaps) == 49.5
    assert row["winner"] == "L" and row["positive_ratio"] == 1.0 and row["wilcoxon_p"] == pytest.approx(1 / 32)
    assert row["hodges_lehmann"] == pytest.approx(np.median(gaps))
    assert row["published"] == "(L, 1.0, 0.03, 66)"  # CIFAR-10-LT, α = 0.1, Entropy in the paper
    assert row["difference"] == pytest.approx(-(np.median(gaps) - 66))  # compared as G − L
    assert len(areas) == 2 * 4 * 5


def test_latex_is_escaped_and_balanced(metrics):
    cells, _ = build_table(TABLES["table5_6"], metrics, synthetic_info(), load_published(PUBLISHED))
    tex = to_latex(cells, TABLES["table5_6"], "100% of 5 seeds & more_")
    assert r"100\% of 5 seeds \& more\_" in tex
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 2
    assert r"$\pm$" in tex


def test_class_groups_and_sampling_shares():
    assert class_groups(10) == {"majority": [0, 1, 2], "intermediate": [3, 4, 5, 6], "minority": [7, 8, 9]}
    m = synthetic_metrics()
    shares = sampling_shares(m, {s: np.array([10, 50, 5]) for s in SETTINGS})  # ranking: class 1, 0, 2
    shares = shares[shares["setting"] == next(iter(SETTINGS))]
    rand = shares[(shares["strategy"] == "random") & (shares["cycle"] == 3) & (shares["seed"] == 1)].set_index("group")[
        "share"
    ]
    assert rand["intermediate"] == pytest.approx(100.0)  # random queried class 0 only, the middle-ranked class
    ff = shares[(shares["strategy"] == "fairfal") & (shares["cycle"] == 2) & (shares["seed"] == 1)].set_index("group")[
        "share"
    ]
    assert ff["majority"] == pytest.approx(100 * 2 / 7) and ff["minority"] == pytest.approx(100 * 3 / 7)


@pytest.mark.parametrize(
    "name, panels",
    [
        ("figure1", 2),
        ("figure3", 2),
        ("figure6", 2),
        ("logo_penalty", 1),
        ("logo_figure2", 1),
        ("kafal_fig4cd", 2),
        ("kafal_fig7", 2),
    ],
)
def test_figure_has_expected_panels_and_writes_images(metrics, tmp_path, name, panels):
    from fal.plots.curves import save_figure

    fig = build_figure(FIGURES[name], metrics, synthetic_info())
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert len(axes) == panels
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    if name in ("figure1", "figure3"):
        assert [ax.get_title().split("\n")[0] for ax in axes] == [
            "CIFAR-10-LT, ρ=20, α=0.1, 10 clients",
            "CIFAR-10-LT, ρ=20, α=100, 10 clients",
        ]
        labels = axes[0].get_legend_handles_labels()[1]
        assert labels == (
            ["Entropy (G)", "Entropy (L)"]
            if name == "figure1"
            else ["Random", "Entropy (G)", "Entropy (L)", "FairFAL (G, L)"]
        )
    save_figure(fig, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 10_000 and (tmp_path / "f.pdf").stat().st_size > 5_000


def test_partition_figure_panels(tmp_path):
    rng = np.random.default_rng(0)
    part = pd.DataFrame({"split": ["train"] * 60, "label": rng.integers(0, 3, 60), "client": rng.integers(0, 2, 60)})
    fig = build_figure(FIGURES["figure4"], synthetic_metrics(), synthetic_info(), {s: part for s in SETTINGS})
    heatmaps = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel() == "Class"]
    assert len(heatmaps) == 2 and all(ax.get_ylabel() == "Client" for ax in heatmaps)


def test_kafal_draws_the_client_model_solid_and_the_global_model_dashed(metrics):
    fig = build_figure(FIGURES["kafal_fig4cd"], metrics, synthetic_info())
    handles, labels = fig.axes[0].get_legend_handles_labels()
    styles = {label: handle.lines[0].get_linestyle() for handle, label in zip(handles, labels)}
    assert styles["Entropy (L)"] == "-" and styles["Entropy (G)"] == "--"
    assert "dashed: the global model (F-AL)" in fig._suptitle.get_text()


def test_logo_figure2_plots_one_gap_per_alpha(metrics):
    fig = build_figure(FIGURES["logo_figure2"], metrics, synthetic_info())
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_title() == "Entropy" and ax.get_ylim() == (-1.05, 1.05)
    gaps = {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines() if line.get_label().startswith("α")}
    # Entropy (L) leads Entropy (G) by 1 + 0.1·seed in cycles 2-9: L wins 8 of the 9 label sets, G none
    assert gaps == {"α=0.1": [pytest.approx(-8 / 9)], "α=100": [pytest.approx(-8 / 9)]}


def test_a_participation_axis_gives_one_block_per_fraction(metrics):
    """Two settings that differ only in the share of clients per round (``protocol.client_fraction`` as
    a list, KAFAL Fig. 9 against full participation) are two blocks of the table, labelled by that share."""
    info = synthetic_info(compare=False)
    info["settings"] = {
        setting_id: {**attrs, "alpha": 0.1, "client_fraction": fraction}
        for (setting_id, attrs), fraction in zip(SETTINGS.items(), (0.4, 1.0))
    }
    cells, _ = build_table(TABLES["kafal_table2_3"], metrics, info, None)
    assert sorted(cells["block"].unique()) == ["100 % of clients per round", "40 % of clients per round"]
    caption = describe_study(info)
    assert "α=0.1, 10 clients, 40 % of clients per round; " in caption and caption.count("% of clients per round") == 2
    by_fraction = cells[cells["labelled_ratio"] == 15].set_index(["client_fraction", "strategy"])["mean"]
    assert by_fraction[(0.4, "random")] == pytest.approx(40 + 6 + 0.9)  # the first setting's values
    assert by_fraction[(1.0, "random")] == pytest.approx(40 + 6 + 0.9 + 5)  # the second's (+5 per setting)
    # a study without the axis takes the protocol's share and shows no block for it
    cells, _ = build_table(TABLES["kafal_table2_3"], metrics, synthetic_info(compare=False), None)
    assert set(cells["client_fraction"]) == {1.0} and not any("clients per round" in b for b in cells["block"])


def logo_info():
    """The synthetic study with FairFAL's slot taken by LoGo (the best by 3 points from cycle 2 on)."""
    info = synthetic_info(compare=False)
    info["strategies"] = [
        {**s, "name": "logo", "method": "logo", "label": "LoGo"} if s["name"] == "fairfal" else s
        for s in info["strategies"]
    ]
    return info


def test_logo_figure4_win_and_defeat_percentages_by_hand(metrics):
    """LoGo beats Random (+3, every seed alike: σ = 0, a win) and both Entropy selectors (+2 and
    +1 − 0.1·seed: t ≫ 2.776 over 5 seeds) in each of cycles 2..9, and the faithful rate divides by
    all 9 label sets: 8/9 = 88.9 % won, 0 % defeated, in every category value."""
    from fal.stats.cells import per_seed_accuracy
    from fal.stats.logo import win_defeat_percentages

    logo_metrics = metrics.replace({"strategy": {"fairfal": "logo"}})
    info = logo_info()
    rates = win_defeat_percentages(per_seed_accuracy(logo_metrics, info), info, "logo")
    assert rates["win"].to_numpy() == pytest.approx(100 * 8 / 9) and (rates["defeat"] == 0).all()
    overall = rates[rates["category"] == "Overall"].set_index("method")["cases"]
    assert overall.to_dict() == {"Random": 2, "Entropy": 4}  # 2 settings; Entropy with G and with L
    assert set(rates["category"]) == {"Overall", "Query selector", "Local heterogeneity α"}
    selectors = rates[rates["category"] == "Query selector"]
    assert sorted(zip(selectors["value"], selectors["method"])) == [("G", "Entropy"), ("L", "Entropy"), ("–", "Random")]
    # LoGo losing to Random everywhere turns the bars around
    flipped = logo_metrics.copy()
    flipped.loc[flipped["strategy"] == "random", "value"] += 10
    rates = win_defeat_percentages(per_seed_accuracy(flipped, info), info, "logo")
    random = rates[(rates["method"] == "Random") & (rates["category"] == "Overall")].iloc[0]
    assert random["defeat"] == pytest.approx(100 * 8 / 9) and random["win"] == 0
    fig = build_figure(FIGURES["logo_figure4"], logo_metrics, info)
    assert len(fig.axes) == 3  # Overall, query selector, alpha


def test_a_table_without_published_values_says_why():
    """A study that never compares (a reduced protocol) does not promise published values."""
    from fal.stats.render import NO_PUBLISHED_LEGEND, PUBLISHED_LEGEND

    metrics = synthetic_metrics()
    cells, _ = build_table(TABLES["table5_6"], metrics, synthetic_info(compare=False), load_published(PUBLISHED))
    text = to_markdown(cells, TABLES["table5_6"], "Synthetic study.")
    assert NO_PUBLISHED_LEGEND in text and PUBLISHED_LEGEND not in text
    cells, _ = build_table(TABLES["table5_6"], metrics, synthetic_info(), load_published(PUBLISHED))
    assert PUBLISHED_LEGEND in to_markdown(cells, TABLES["table5_6"], "Synthetic study.")
