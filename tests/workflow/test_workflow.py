"""The Snakemake workflow: lint, dry run, config errors at parse time, a tiny end-to-end study on real
Fashion-MNIST, and cached partial reruns after code edits (parsed from ``snakemake -n``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from helpers import ROOT, SNAKEMAKE, base_config, copy_project, snakemake, tiny_study_config

pytestmark = pytest.mark.workflow


def scheduled_jobs(output: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    current = None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if match:
            current = (match.group(1), {})
            jobs.append(current)
            continue
        if current and line.strip().startswith("wildcards:"):
            for item in line.split("wildcards:", 1)[1].split(","):
                key, _, value = item.strip().partition("=")
                current[1][key] = value
    return jobs


@pytest.fixture(scope="module")
def project_root(tmp_path_factory):
    """A copy of the project as a user has it (config.yaml and .test/ included, no results): the dry
    runs below plan from it instead of the checkout, whose results/ they must not touch (a dry run's
    pre-run scan moves damaged results aside, and `make run` may be writing there meanwhile)."""
    root = tmp_path_factory.mktemp("root")
    return copy_project(root, base_config())


def test_lint_is_clean(project_root):
    proc = snakemake(project_root, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_dry_run_of_all_needs_no_gpu(project_root):
    proc = snakemake(project_root, "-n", "--forceall", "all")
    text = proc.stdout + proc.stderr
    assert re.search(r"^train\s+54$", text, re.M) and re.search(r"^query\s+48$", text, re.M), text[-2000:]


@pytest.mark.parametrize(
    "override, message",
    [
        ('run_studies=["nope"]', "unknown study 'nope'"),
        ("runtime={'threads': 0}", "threads"),
        ("protocol={'rounds': -5}", "rounds"),
        ("fidelity={'preset': 'loose'}", "loose"),
    ],
)
def test_bad_command_line_config_fails_at_parse_time(project_root, override, message):
    proc = snakemake(project_root, "-n", "--config", override, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def _bad(path: str, value):
    config = base_config()
    node = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return config


@pytest.mark.parametrize(
    "config, message",
    [
        (_bad("studies.quick.strategies", ["random", "entropy_x"]), "unknown strategy 'entropy_x'"),
        (_bad("studies.quick.datasets", ["kmnist"]), "kmnist"),
        (_bad("studies.quick.alpha", [0.1, -1]), "alpha"),
        (_bad("studies.quick.protocol", {"end_ratio": 0.05, "initial_ratio": 0.1}), "end_ratio"),
        (_bad("strategies.entropy_g", {"method": "entropy"}), "strategies.entropy_g.query_model"),
        (_bad("studies.quick.bogus", 1), "bogus"),
    ],
    ids=[
        "unknown-strategy",
        "unknown-dataset",
        "negative-alpha",
        "end-before-start",
        "missing-query-model",
        "unknown-key",
    ],
)
def test_bad_config_file_fails_at_parse_time(tmp_path, config, message):
    project = copy_project(tmp_path, config)
    proc = snakemake(project, "-n", "all", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory, data_cache):
    """A copy of the project with a tiny study, run to completion once."""
    project = copy_project(tmp_path_factory.mktemp("project"), tiny_study_config("tiny", data_cache))
    snakemake(project, "all")
    return project


def test_tiny_study_end_to_end(tiny_project):
    metrics = pd.read_parquet(tiny_project / "results/tiny/metrics.parquet")
    final = metrics[metrics["metric"] == "final_test_acc"]
    assert sorted(final["strategy"].unique()) == ["entropy_g", "entropy_l", "fairfal", "random"]
    assert sorted(final["labelled_ratio"].unique()) == [20.0, 40.0]
    assert final["value"].between(0, 100).all()
    # cycle 1 is trained once and shared by every strategy
    cycle1 = final[final["cycle"] == 1]["value"]
    assert cycle1.nunique() == 1
    assert {"fairfal_s", "fairfal_gamma_bar", "queried_count", "labelled_count", "class_test_acc", "test_acc"} <= set(
        metrics["metric"]
    )
    table = (tiny_project / "results/test-reports/tiny/table_accuracy.md").read_text()
    assert "| Method | Sel | 20% | 40% |" in table and "FairFAL" in table
    csv = pd.read_csv(tiny_project / "results/test-reports/tiny/table_accuracy.csv")
    assert len(csv) == 4 * 2
    assert (tiny_project / "results/test-reports/tiny/accuracy_curves.png").stat().st_size > 10_000
    # the per-round logs report progress
    log = next((tiny_project / "logs/tiny/train").rglob("cycle1.log")).read_text()
    assert re.search(r"cycle 1 round 1/1 clients 5/5 lr .* test_acc [\d.]+% elapsed", log)
    # every rule wrote a benchmark file
    bench_rules = {
        p.relative_to(tiny_project / "logs/tiny/benchmarks").parts[0]
        for p in (tiny_project / "logs/tiny/benchmarks").rglob("*.tsv")
    }
    assert {"partition", "train", "query", "run_metrics"} <= bench_rules
    assert snakemake(tiny_project, "-n", "all").stdout.count("rule ") == 0  # nothing left to do
    # where the numbers were computed: in the table and, for machines, beside it
    assert re.search(r"^Computed with: torch .* with \w+ kernels", table, re.M), table[-500:]
    environment = json.loads((tiny_project / "results/test-reports/tiny/provenance.json").read_text())
    assert [e["cpu_capability"] for e in environment] == [torch.backends.cpu.get_cpu_capability()] * len(environment)
    assert sum(e["jobs"] for e in environment) == 5 + 4  # training jobs (init + 4 arms' cycle 2) and queries


def test_paper_tables_figures_and_report(tiny_project):
    tables = tiny_project / "results/test-reports/tables/tiny"
    for ext in ("md", "csv", "tex", "html"):
        assert (tables / f"table5_6.{ext}").stat().st_size > 200
    assert "| Entropy (G) |" in (tables / "table5_6.md").read_text()
    assert (tables / "table1_seeds.csv").exists() and "aulc" in (tables / "table1_seeds.csv").read_text()
    assert (tiny_project / "results/test-reports/figures/tiny/figure4.png").stat().st_size > 10_000
    snakemake(tiny_project, "all", "--report", "results/test-reports/report.html")
    html = (tiny_project / "results/test-reports/report.html").read_text()
    assert "table5_6.html" in html and "figure4.png" in html and "Seeds 1 (1)" in html


def test_editing_figure_code_reruns_only_figures(tiny_project):
    target = tiny_project / "fal/plots/panels.py"
    original = edit(target)
    try:
        jobs = scheduled_jobs(snakemake(tiny_project, "-n", "all").stdout)
        assert {rule for rule, _ in jobs} == {
            "paper_figure",
            "publish_report",
            "all",
        }  # accuracy_figure uses fal.plots.curves
    finally:
        target.write_text(original)


def edit(path: Path) -> str:
    original = path.read_text()
    path.write_text(original + "\n\ndef _edited_by_a_test():\n    return 1\n")
    return original


def test_editing_table_code_reruns_only_the_table(tiny_project):
    target = tiny_project / "fal/stats/accuracy_summary.py"
    original = edit(target)
    try:
        rules = {rule for rule, _ in scheduled_jobs(snakemake(tiny_project, "-n", "all").stdout)}
        assert rules == {"accuracy_table", "publish_report", "all"}
    finally:
        target.write_text(original)


def test_editing_one_strategy_reruns_only_its_queries_and_what_follows(tiny_project):
    target = tiny_project / "fal/strategies/methods/entropy.py"
    original = edit(target)
    try:
        jobs = scheduled_jobs(snakemake(tiny_project, "-n", "all").stdout)
        for rule, wildcards in jobs:
            if rule in ("query", "run_metrics"):
                assert wildcards["strategy"] in ("entropy_g", "entropy_l"), (rule, wildcards)
            if rule == "train":
                assert wildcards["arm"] in ("entropy_g", "entropy_l"), (rule, wildcards)
            assert rule not in ("partition", "prepare_dataset"), rule
        queried = sorted(w["strategy"] for r, w in jobs if r == "query")
        assert queried == ["entropy_g", "entropy_l"]
    finally:
        target.write_text(original)


def test_regenerating_one_table_reruns_no_training(tiny_project):
    table = tiny_project / "results/test-reports/tiny/table_accuracy.md"
    table.unlink()
    proc = snakemake(tiny_project, "results/test-reports/tiny/table_accuracy.md")
    ran = re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M)
    assert ran == ["publish_report"]  # copied again from the staged table: nothing recomputed
    assert table.exists()


def test_runtime_settings_rerun_nothing(tiny_project):
    """Device, threads and batch sizes do not change results, so changing them reruns no job."""
    config = yaml.safe_load((tiny_project / "config.yaml").read_text())
    config["runtime"] = {"threads": 2, "inference_batch_size": 64, "device": "cpu", "deterministic": False}
    (tiny_project / "runtime.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(tiny_project, "-n", "all", "--configfile", "runtime.yaml")
    assert scheduled_jobs(proc.stdout) == []


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / ".test" / "config").glob("*.yaml")))
def test_every_test_config_dry_runs_as_a_user_would(project_root, name):
    """``snakemake -n all --configfile .test/config/<name>.yaml`` from the project root: valid, and it plans
    the study's jobs (the tiny studies of the workflow tests are user-visible configs)."""
    test_config = yaml.safe_load((ROOT / ".test" / "config" / f"{name}.yaml").read_text())
    assert test_config["paths"]["reports"] == "results/test-reports"  # never into the committed reports/
    proc = snakemake(project_root, "-n", "all", "--configfile", f".test/config/{name}.yaml")
    study = next(iter(test_config["studies"]))
    assert f"study={study}" in proc.stdout + proc.stderr or f"results/{study}/" in proc.stdout + proc.stderr


def test_every_defined_study_dry_runs_without_a_gpu(tmp_path):
    """Every study in config.yaml plans its whole DAG (settings, protocol axes, strategies, cycles, tables,
    figures) on a machine without a GPU. Seeds are cut to each study's first to keep the DAG small: the
    other seeds repeat the same jobs."""
    config = base_config()
    for study in config["studies"].values():
        study["seeds"] = study["seeds"][:1]
    config["run_studies"] = list(config["studies"])
    project = copy_project(tmp_path, config)
    proc = snakemake(project, "-n", "all")
    text = proc.stdout + proc.stderr
    for name, study in config["studies"].items():
        assert f"results/{name}/" in text, name
        for table in study.get("tables", []):
            assert f"reports/tables/{name}/{table}.md" in text, (name, table)
        for figure in study.get("figures", []):
            assert f"reports/figures/{name}/{figure}.png" in text, (name, figure)
    assert re.search(r"^train\s+\d{4,}$", text, re.M), text[-1500:]


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_truncated_model_is_named_scheduled_by_a_dry_run_that_changes_nothing_and_rebuilt(tiny_project):
    model = next((tiny_project / "results/tiny").rglob("entropy_g/cycle2/model.pt"))
    rel = model.relative_to(tiny_project).as_posix()
    original = model.read_bytes()
    model.write_bytes(original[:1000])
    before = tree_digest(tiny_project / "results")
    dry = snakemake(tiny_project, "-n", "all")
    assert tree_digest(tiny_project / "results") == before  # the dry run moved and wrote nothing
    damaged = [line for line in (dry.stdout + dry.stderr).splitlines() if line.startswith("Damaged result:")]
    assert len(damaged) == 1, damaged
    assert rel in damaged[0] and "rule train" in damaged[0] and f"snakemake --cores 1 {rel}" in damaged[0]
    assert "this dry run moved nothing" in damaged[0]
    trains = {(w.get("cycle"), w.get("arm")) for rule, w in scheduled_jobs(dry.stdout) if rule == "train"}
    assert trains == {("2", "entropy_g")}  # its producer, and no other training
    run = snakemake(tiny_project, "all")
    assert any(rel in line and "moved to" in line for line in (run.stdout + run.stderr).splitlines())
    assert model.read_bytes() == original  # rebuilt, bit for bit
    assert scheduled_jobs(snakemake(tiny_project, "-n", "all").stdout) == []
    kept = [p for p in (tiny_project / "results/.quarantine").rglob("model.pt") if p.as_posix().endswith(rel)]
    assert [p.read_bytes() for p in kept] == [original[:1000]]  # moved aside, not deleted


def test_outputs_a_failed_job_removed_are_rebuilt_with_what_was_computed_from_them(tiny_project):
    labelled = next((tiny_project / "results/tiny").rglob("entropy_g/cycle2/labelled.parquet"))
    original = labelled.read_bytes()
    labelled.unlink()  # as Snakemake does with the outputs of a job that fails
    Path(f"{labelled}.digest.json").unlink()
    dry = snakemake(tiny_project, "-n", "all")
    assert any(line.startswith("Missing result:") for line in (dry.stdout + dry.stderr).splitlines())
    jobs = {(rule, w.get("strategy") or w.get("arm")) for rule, w in scheduled_jobs(dry.stdout)}
    assert {("query", "entropy_g"), ("train", "entropy_g"), ("run_metrics", "entropy_g")} <= jobs
    snakemake(tiny_project, "all")
    assert labelled.read_bytes() == original
    assert scheduled_jobs(snakemake(tiny_project, "-n", "all").stdout) == []


def test_use_conda_without_conda_says_so_in_one_line(tiny_project):
    path = f"{SNAKEMAKE.parent}:/usr/bin:/bin"
    if shutil.which("conda", path=path) or shutil.which("mamba", path=path):
        pytest.skip("conda is installed here")
    proc = subprocess.run(
        [str(SNAKEMAKE), "--workflow-profile", "none", "-n", "--use-conda", "all"],
        cwd=tiny_project,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "--use-conda needs conda or mamba on PATH: install Miniforge" in proc.stdout + proc.stderr
