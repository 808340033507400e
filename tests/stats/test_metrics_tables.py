"""Run metrics, the accuracy table and the figure, from small hand-made inputs."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from fal.formats import METRICS_SCHEMA
from fal.io import SchemaError, atomic_path, read_parquet, write_parquet
from fal.stats.accuracy_summary import accuracy_markdown, accuracy_summary
from fal.stats.metrics import CycleRecord, final_accuracy, run_metrics


def cycle(t, accs, query=None):
    rounds = pd.DataFrame(
        {
            "round": [1, 2],
            "lr": [0.01, 0.01],
            "train_loss": [1.0, 0.5],
            "test_loss": [1.2, 0.9],
            "test_acc": accs,
        }
    )
    evaluation = pd.DataFrame({"class": [0, 1], "correct": [5, 3], "total": [10, 10], "accuracy": [50.0, 30.0]})
    labelled = pd.DataFrame({"client": [0, 0, 1], "position": [0, 1, 2], "rank": [0, 1, 0], "cycle_added": [1, 1, 1]})
    return CycleRecord(
        cycle=t, labelled_ratio=10.0 * t, rounds=rounds, evaluation=evaluation, labelled=labelled, query=query
    )


def make_run(strategy, seed, finals, setting_alpha=0.1):
    query = pd.DataFrame(
        {
            "client": [0, 0],
            "class": pd.array([0, pd.NA], dtype="Int16"),
            "metric": ["queried_count", "fairfal_s"],
            "value": [2.0, 0.6],
        }
    )
    cycles = [cycle(1, [20.0, finals[0]]), cycle(2, [30.0, finals[1]], query)]
    return run_metrics(
        study="s",
        setting={"dataset": "fmnist_lt", "rho": 20, "alpha": setting_alpha, "num_clients": 2},
        setting_id=f"fmnist_lt-rho20-alpha{setting_alpha:g}-K2",
        strategy=strategy,
        method=strategy.split("_")[0],
        selector="G",
        seed=seed,
        labels=np.array([0, 1, 1]),
        num_classes=2,
        cycles=cycles,
    )


def test_run_metrics_long_format(tmp_path):
    df = make_run("entropy_g", 1, [40.0, 55.0])
    write_parquet(df, tmp_path / "m.parquet", METRICS_SCHEMA)
    back = read_parquet(tmp_path / "m.parquet", METRICS_SCHEMA)
    final = back[back["metric"] == "final_test_acc"]
    assert final["value"].tolist() == [40.0, 55.0] and final["labelled_ratio"].tolist() == [10.0, 20.0]
    per_round = back[(back["metric"] == "test_acc") & (back["cycle"] == 2)]
    assert per_round["round"].tolist() == [1, 2]
    counts = back[back["metric"] == "labelled_count"].set_index(["cycle", "client", "class"])["value"]
    assert (
        counts.loc[(1, 0, 0)] == 1
        and counts.loc[(1, 0, 1)] == 1
        and counts.loc[(1, 1, 1)] == 1
        and counts.loc[(1, 1, 0)] == 0
    )
    assert set(back.loc[back["cycle"] == 2, "metric"]) >= {"queried_count", "fairfal_s"}
    assert back.loc[back["metric"] == "fairfal_s", "class"].isna().all()


def test_metrics_with_wrong_schema_are_rejected(tmp_path):
    df = make_run("random", 1, [40.0, 50.0]).drop(columns=["selector"])
    pq.write_table(__import__("pyarrow").Table.from_pandas(df), tmp_path / "bad.parquet")
    with pytest.raises(SchemaError, match="missing column 'selector'"):
        read_parquet(tmp_path / "bad.parquet", METRICS_SCHEMA)


LABELS = {"random": "Random", "entropy_g": "Entropy_G"}
"""Each strategy's display label (an analysis job's params)."""


def study_metrics():
    runs = []
    for strategy, finals in {"random": [(40, 50), (42, 54)], "entropy_g": [(44, 60), (46, 62)]}.items():
        for seed, f in enumerate(finals, start=1):
            runs.append(make_run(strategy, seed, [float(f[0]), float(f[1])]))
    return pd.concat(runs, ignore_index=True)


def test_accuracy_summary_means_and_sd_by_hand():
    summary = accuracy_summary(study_metrics(), LABELS)
    assert summary["strategy"].tolist() == ["random", "random", "entropy_g", "entropy_g"]
    cell = summary[(summary["strategy"] == "random") & (summary["labelled_ratio"] == 20.0)].iloc[0]
    assert cell["mean"] == 52.0 and cell["std"] == pytest.approx(np.std([50, 54], ddof=1)) and cell["n_seeds"] == 2
    only = accuracy_summary(study_metrics(), {"entropy_g": "Entropy_G", "random": "Random"}, ratios=[20])
    assert only["labelled_ratio"].unique().tolist() == [20.0] and only["strategy"].tolist() == ["entropy_g", "random"]


def test_accuracy_markdown_layout():
    md = accuracy_markdown(accuracy_summary(study_metrics(), LABELS), "T", "caption")
    lines = md.splitlines()
    assert "| Method | Sel | 10% | 20% |" in lines
    assert "| Random | G | 41.00 ± 1.41 | 52.00 ± 2.83 |" in lines
    assert "| Entropy_G | G | **45.00 ± 1.41** | **61.00 ± 1.41** |" in lines  # best mean per column in bold
    assert any(
        line.endswith("Bold: the best mean of its column (none where all methods tie, as in the shared cycle 1).")
        for line in lines
    )


def test_final_accuracy_rows():
    acc = final_accuracy(study_metrics())
    assert len(acc) == 2 * 2 * 2 and set(acc.columns) >= {"strategy", "seed", "labelled_ratio", "accuracy"}


def test_figure_has_one_panel_per_setting(tmp_path):
    from fal.plan.catalog import dataset_labels
    from fal.plots.curves import accuracy_curves, save_figure

    metrics = pd.concat([study_metrics(), make_run("random", 1, [30.0, 35.0], setting_alpha=100)], ignore_index=True)
    fig = accuracy_curves(metrics, LABELS, "title", dataset_labels(), "test accuracy")
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # one y scale: panels compare at a glance
    assert [ax.get_xlabel() for ax in fig.axes] == ["Labelled samples (% of training set)"] * 2
    assert "Fashion-MNIST-LT, ρ = 20, α = 0.1, 2 clients" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["Random (G)", "Entropy_G (G)"]
    save_figure(fig, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (
        tmp_path / "f.png"
    ).stat().st_size > 10_000
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os
    import stat

    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o666 & ~mask


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
