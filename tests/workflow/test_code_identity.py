"""Cached reruns are exact: on a finished tiny study, run with the project's default profile, a
behaviour change in any module reruns exactly the jobs whose scripts import it (and what depends on
them), and nothing else reruns for comments, docstrings, formatting, `touch`, a byte-identical cache
rebuild, a clone with the results copied in, a new data location, or a new method."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import helpers
import pytest
import yaml
from helpers import ROOT, copy_project, snakemake, tiny_study_config

from fal.code_hash import imported_modules
from fal.plan import params
from fal.plan.catalog import FIGURES, SOURCES, TABLES
from fal.plan.study import resolve_study

pytestmark = pytest.mark.workflow

PROFILE = "profiles/default"
PROBE = "\n\ndef _behaviour_probe():\n    return 1\n"


def rule_scripts() -> dict[str, str]:
    """Rule name → its script's stem, read from workflow/rules/*.smk (``use rule`` inherits the script)."""
    scripts: dict[str, str] = {}
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S)", text + "\nend", re.M | re.S):
            script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', match.group(2))
            if script:
                scripts[match.group(1)] = script.group(1)
        for derived, base in re.findall(r"^use rule (\w+) as (\w+)", text, re.M):
            scripts[base] = scripts[derived]
    return scripts


SCRIPTS = rule_scripts()


def dry_run_jobs(project: Path, *args: str) -> list[dict]:
    """Every job a dry run schedules with the project's default profile: rule, wildcards and reason."""
    return helpers.dry_run_jobs(project, *args, profile=PROFILE)


def key(job: dict) -> tuple:
    return job["rule"], job["wildcards"]


def job_modules(project: Path, study, job: dict) -> set[str]:
    """The fal modules a job's script imports, transitively, plus those it loads by name (the
    strategy's method module, the arm's FL algorithm, the source's dataset module, the paper's module)."""
    rule, wildcards = job["rule"], dict(job["wildcards"])
    if rule not in SCRIPTS:
        return set()
    by_name = []
    if SCRIPTS[rule] == "query":
        by_name = params.query_modules(study, wildcards["setting"], wildcards["strategy"], int(wildcards["cycle"]))
    if SCRIPTS[rule] == "train":
        by_name = params.train_modules(study, wildcards["setting"], wildcards["arm"], int(wildcards["cycle"]))
    if SCRIPTS[rule] == "prepare_dataset":
        by_name = [SOURCES[wildcards["source"]].module]
    if SCRIPTS[rule] == "paper_table":
        by_name = [TABLES[wildcards["table"]].module]
    if SCRIPTS[rule] == "paper_figure":
        by_name = [FIGURES[wildcards["figure"]].module]
    return set(imported_modules(project, [f"workflow/scripts/{SCRIPTS[rule]}.py"], by_name))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny study run to completion with the default profile, its data cache inside the project."""
    project = copy_project(tmp_path_factory.mktemp("identity"), tiny_study_config("tiny"))
    snakemake(project, "all", profile=PROFILE)
    assert dry_run_jobs(project) == []
    return project


@pytest.fixture(scope="module")
def all_jobs(finished):
    study = resolve_study(yaml.safe_load((finished / "config.yaml").read_text()), "tiny")
    jobs = dry_run_jobs(finished, "--forceall")
    assert {job["rule"] for job in jobs} >= {"prepare_dataset", "partition", "train", "query", "paper_table"}
    return {key(job): job_modules(finished, study, job) for job in jobs}


def test_every_job_ran_only_code_its_hash_covers(finished):
    """The logged modules each job actually imported are all inside its code hash (no hidden import)."""
    study = resolve_study(yaml.safe_load((finished / "config.yaml").read_text()), "tiny")
    logs = list((finished / "logs").rglob("*.log"))
    checked = 0
    for log in logs:
        used = re.search(r"fal modules used: (.*)", log.read_text())
        if not used:
            continue
        rel = log.relative_to(finished / "logs").parts  # prepare_dataset/<source>.log or <study>/<rule>/...
        rule = (rel[0] if rel[0] == "prepare_dataset" else rel[1]).removesuffix(".log")
        wildcards = {}
        if rule in ("query", "train"):  # logs/<study>/<rule>/<setting>/seed<n>/<strategy or arm>/cycle<t>.log
            wildcards["setting"], wildcards["cycle"] = rel[2], log.stem.removeprefix("cycle")
            wildcards["strategy" if rule == "query" else "arm"] = log.parent.name
        if rule == "prepare_dataset":
            wildcards["source"] = log.stem
        if rule == "paper_table":
            wildcards["table"] = log.stem
        if rule == "paper_figure":
            wildcards["figure"] = log.stem
        static = job_modules(finished, study, {"rule": rule, "wildcards": tuple(wildcards.items())})
        assert set(used.group(1).split()) <= static, (log, set(used.group(1).split()) - static)
        checked += 1
    assert checked >= 15


def _module_files(project: Path) -> list[Path]:
    return sorted((project / "fal").rglob("*.py"))


def _probe_each(project: Path, rels: list[Path]) -> dict[Path, tuple[list[dict], str]]:
    """Dry-run ``project`` with a behaviour probe appended to each file in turn (then restored): the
    jobs planned and the dry run's messages."""
    out = {}
    for rel in rels:
        path = project / rel
        original = path.read_text()
        path.write_text(original + PROBE)
        try:
            run = snakemake(project, "-n", "all", profile=PROFILE)
            out[rel] = (helpers.parse_dry_run(run.stdout), run.stdout + run.stderr)
        finally:
            path.write_text(original)
    return out


def test_each_module_change_reruns_exactly_its_importers(finished, all_jobs, tmp_path):
    """Append a behaviour-changing definition to each module (and rule script) in turn: exactly the
    jobs whose code imports it have changed params; everything else scheduled is downstream of them.
    (Two copies of the finished study probe half the files each, side by side: one dry run uses one core.)"""
    files = _module_files(finished) + sorted((finished / "workflow/scripts").glob("*.py"))
    assert len(files) > 60
    rels = [path.relative_to(finished) for path in files]
    twin = tmp_path / "twin"
    shutil.copytree(finished, twin, symlinks=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = pool.map(_probe_each, [finished, twin], [rels[0::2], rels[1::2]])
        probed = {rel: jobs for half in halves for rel, jobs in half.items()}
    assert set(probed) == set(rels)
    for rel in rels:
        jobs, messages = probed[rel]
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        changed = {key(job) for job in jobs if job["reason"].startswith("reason: Params have changed")}
        if rel.parts[0] == "workflow":
            expected = {k for k in all_jobs if k[0] in SCRIPTS and SCRIPTS[k[0]] == rel.stem}
        else:
            expected = {k for k, modules in all_jobs.items() if module in modules}
        # The data cache is the planning side's: code it was built with changed, a real run rebuilds it
        # before the DAG decides (no job), and reruns only what the rebuilt bytes change.
        rebuilds_cache = any(k[0] == "prepare_dataset" for k in expected)
        assert rebuilds_cache == ("Data cache: data/cache/fmnist.npz" in messages), (str(rel), messages[-2000:])
        expected = {k for k in expected if k[0] != "prepare_dataset"}
        scheduled = {key(job) for job in jobs if job["rule"] != "all"}
        # Snakemake names one reason per job: a job downstream of another rerun job says "updated by
        # another job" even when its own params changed too. So: every importer reruns, no job outside
        # the importers has changed params, and every other rerun is downstream of a rerun job.
        assert expected <= scheduled, (str(rel), sorted(expected - scheduled)[:3])
        assert changed <= expected, (str(rel), sorted(changed - expected)[:3])
        assert bool(changed) == bool(expected), str(rel)
        for job in jobs:
            if key(job) not in changed:
                assert "updated by another job" in job["reason"], (str(rel), job)


def test_comments_docstrings_and_formatting_rerun_nothing(finished):
    originals = {path: path.read_text() for path in _module_files(finished)}
    try:
        for path, text in originals.items():
            edited = text.replace('"""', '"""Edited docstring. ', 1) if text.startswith('"""') else text
            path.write_text("# a comment\n\n" + edited.replace("\n\n\n", "\n\n\n\n") + "\n# another comment\n")
        assert dry_run_jobs(finished) == []
    finally:
        for path, text in originals.items():
            path.write_text(text)


def test_touching_every_file_reruns_nothing(finished):
    for path in finished.rglob("*"):
        if path.is_file() and ".snakemake" not in path.parts:
            path.touch()
    assert dry_run_jobs(finished) == []


def test_rebuilding_the_cache_as_the_error_advises_reruns_nothing(finished):
    cache = finished / "data/cache"
    before = {p.name: p.read_bytes() for p in cache.iterdir()}
    for path in cache.iterdir():
        path.unlink()
    snakemake(finished, "data/cache/fmnist.npz", profile=PROFILE)  # load_cache's advice
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == before  # byte-identical rebuild
    assert dry_run_jobs(finished) == []


def _digests(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_missing_data_cache_reruns_only_the_change(finished, tmp_path):
    """With data/cache/ deleted (to save space, or results moved to a new clone), a change that needs the
    data plans only its own jobs (the cache is rebuilt first, in the run's main process), and the run
    leaves every earlier training, query and partition result byte-identical."""
    project = tmp_path / "project"
    shutil.copytree(finished, project, symlinks=True)
    shutil.rmtree(project / "data/cache")
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["studies"]["tiny"]["protocol"]["end_ratio"] = round(
        config["studies"]["tiny"]["protocol"]["end_ratio"] + 0.2, 6
    )
    (project / "more.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dry = snakemake(project, "-n", "all", "--configfile", "more.yaml", profile=PROFILE)
    jobs = dry_run_jobs(project, "--configfile", "more.yaml")
    assert "Data cache: data/cache/fmnist.npz is missing: a real run rebuilds it first" in dry.stdout + dry.stderr
    assert not {"prepare_dataset", "partition"} & {job["rule"] for job in jobs}
    last = {dict(job["wildcards"])["cycle"] for job in jobs if job["rule"] in ("train", "query")}
    assert last == {str(resolve_study(config, "tiny").protocol.num_cycles())}  # the new cycle only
    before = _digests(project / "results/tiny")
    run = snakemake(project, "all", "--configfile", "more.yaml", profile=PROFILE)
    assert "rebuilding it now, before any job" in run.stdout + run.stderr
    after = _digests(project / "results/tiny")
    kept = [rel for rel in before if "/cycle" in rel or rel.endswith("partition.parquet")]
    assert kept and all(after[rel] == before[rel] for rel in kept)
    assert dry_run_jobs(project, "--configfile", "more.yaml") == []


def test_two_runs_from_scratch_give_byte_identical_results(finished, tmp_path):
    """Every file of results/ (models, Parquet, JSON, reports, digest sidecars) is the same byte for byte in
    a second run from scratch: no result carries a time or a host (timings go to logs/)."""
    again = copy_project(tmp_path, yaml.safe_load((finished / "config.yaml").read_text()))
    snakemake(again, "all", profile=PROFILE)
    first, second = _digests(finished / "results"), _digests(again / "results")
    first = {rel: data for rel, data in first.items() if not rel.startswith(".quarantine/")}
    assert sorted(first) == sorted(second)
    assert [rel for rel in first if first[rel] != second[rel]] == []


def test_where_the_data_come_from_is_not_a_trigger(finished):
    config = yaml.safe_load((finished / "config.yaml").read_text())
    config["paths"]["data_raw"] = "/elsewhere/raw"
    config["paths"]["fmnist_system"] = "/elsewhere/fashion-mnist"
    config["data"] = {**config.get("data", {}), "download": False}
    (finished / "moved.yaml").write_text(yaml.safe_dump(config))
    assert dry_run_jobs(finished, "--configfile", "moved.yaml") == []


def test_a_fresh_clone_with_the_results_copied_in_reruns_nothing(finished, tmp_path):
    clone = copy_project(tmp_path, yaml.safe_load((finished / "config.yaml").read_text()))
    config = yaml.safe_load((finished / "config.yaml").read_text())
    assert Path(config["paths"]["reports"]).parts[0] == "results"  # the test reports travel with the results
    for name in ("results", "data"):
        shutil.copytree(finished / name, clone / name, copy_function=shutil.copyfile)  # new timestamps
    shutil.copytree(finished / ".snakemake/metadata", clone / ".snakemake/metadata")
    assert dry_run_jobs(clone) == []


def recipe(section: str) -> tuple[str, str]:
    """CONTRIBUTING.md's recipe ``section``: (the path of its new module, the module's source)."""
    text = (ROOT / "CONTRIBUTING.md").read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    path = re.search(r"^1\. `([\w/]+\.py)`", text, re.M).group(1)
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    return path, textwrap.dedent(block)


@pytest.mark.parametrize(
    "section, line, expected",
    [
        # the recipe's one line: a strategy in the study, the algorithm or dataset of a study, a table
        (
            "A query method",
            {"strategies": {"logit_norm_g": {"method": "logit_norm", "query_model": "global"}}},
            "query",
        ),
        ("An FL algorithm", {"protocol": {"fl_algorithm": "fedavg_uniform"}}, "train"),
        ("A dataset", {"datasets": ["kmnist_lt"]}, "prepare_dataset"),
        ("A paper table or figure", {"tables": ["table5_6", "ifal_table2"]}, "paper_table"),
    ],
)
def test_each_contributing_recipe_adds_one_module_that_reruns_nothing(finished, section, line, expected):
    """Followed as CONTRIBUTING.md writes it: the new module alone schedules nothing on a finished study,
    and a study using it (the recipe's one line) plans the new kind of job."""
    relpath, source = recipe(section)
    target = finished / relpath
    config_path = finished / "config.yaml"
    config_text = config_path.read_text()
    docs = {p: p.read_text() for p in (finished / "docs").glob("*.md")}
    target.write_text(source)
    try:
        assert dry_run_jobs(finished) == [], section
        # the recipe's `make docs`: the generated tables take the new module in, and are then up to date
        subprocess.run([sys.executable, "-m", "fal.plan.docs"], cwd=finished, check=True, capture_output=True)
        check = subprocess.run([sys.executable, "-m", "fal.plan.docs", "--check"], cwd=finished, capture_output=True)
        assert check.returncode == 0, check.stdout
        name = Path(relpath).stem
        shown = {"A query method": "docs/methods.md", "A dataset": "docs/configuration.md"}.get(section)
        if shown:
            assert f"{name}" in (finished / shown).read_text(), section
        config = yaml.safe_load(config_text)
        study = config["studies"]["tiny"]
        for key, value in line.items():
            if key == "strategies":
                config["strategies"].update(value)
                study["strategies"] = ["random", *value]
            elif key == "protocol":
                study["protocol"].update(value)
            else:
                study[key] = value
        (finished / "with_recipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        jobs = dry_run_jobs(finished, "--configfile", "with_recipe.yaml")
        assert expected in {job["rule"] for job in jobs}, section
        if section == "A paper table or figure":  # only the new table and its publication
            assert {job["rule"] for job in jobs} == {"paper_table", "publish_report", "all"}
            assert {dict(j["wildcards"]).get("table") for j in jobs if j["rule"] == "paper_table"} == {"ifal_table2"}
    finally:
        target.unlink()
        config_path.write_text(config_text)
        for path, text in docs.items():
            path.write_text(text)


def _train_benchmark(project: Path, wildcards: tuple) -> Path:
    w = dict(wildcards)
    return (
        project / f"logs/{w['study']}/benchmarks/train/{w['setting']}/seed{w['seed']}/{w['arm']}/cycle{w['cycle']}.tsv"
    )


def _shape(job: dict) -> tuple:
    return tuple((k, v) for k, v in job["wildcards"] if k != "seed")


def test_requests_follow_the_studys_benchmark_files_and_editing_them_plans_nothing(finished):
    """A training job asks for what its shape's finished jobs took (their benchmark files: every seed of
    the same setting, arm and cycle), else for the model; the files are resources, not params: editing
    them reruns nothing."""
    from fal.plan.requests import measured_request, same_shape

    files = sorted((finished / "logs/tiny/benchmarks/train").rglob("*.tsv"))
    originals = {path: path.read_bytes() for path in files}
    header = originals[files[0]].decode().splitlines()[0]
    try:
        forced = [job for job in dry_run_jobs(finished, "--forceall") if job["rule"].startswith("train")]
        for job in forced:  # what the finished run's own files support
            own = _train_benchmark(finished, job["wildcards"])
            request = measured_request(same_shape(str(own), dict(job["wildcards"])["seed"]))
            assert int(job["resources"]["runtime"]) == request.minutes < 10, (job["wildcards"], job["resources"])
        hour, empty = _shape(forced[0]), _shape(forced[-1])
        assert hour != empty
        for job in forced:
            path = _train_benchmark(finished, job["wildcards"])
            if _shape(job) == hour:  # every seed of this shape took an hour and 5 GB
                path.write_text(header + "\n3600.0\t1:00:00\t5000.0" + "\t0" * 7 + "\n")
            if _shape(job) == empty:  # no measurement left: the model
                path.write_text(header + "\n")
        replanned = [job for job in dry_run_jobs(finished, "--forceall") if job["rule"].startswith("train")]
        for job in replanned:
            if _shape(job) == hour:
                assert (job["resources"]["runtime"], job["resources"]["mem_mb"]) == ("95", "7500")  # ×1.5 + 5 min; ×1.5
            if _shape(job) == empty:
                assert int(job["resources"]["runtime"]) >= 10  # the model: 10 minutes and up
        assert dry_run_jobs(finished) == []  # new requests, no rerun
    finally:
        for path, data in originals.items():
            path.write_bytes(data)
