# Configuration validation, path templates, wildcard constraints and input functions.
import atexit
import os
import shutil
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

PROJECT_ROOT = Path(workflow.basedir)
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from fal.config.base import ConfigError  # noqa: E402
from fal.config.runtime import RuntimeConfig  # noqa: E402
from fal.plan.config_schema import origin_of, schema_problem  # noqa: E402


def config_layers():
    """Where the configuration comes from, in the order Snakemake merges it: config.yaml, each
    --configfile, then --config."""
    import yaml

    layers = [("config.yaml", yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text()) or {})]
    settings = workflow.config_settings
    for path in getattr(settings, "configfiles", None) or ():
        if Path(path).resolve() != (PROJECT_ROOT / "config.yaml").resolve():
            label = os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
            layers.append((label, yaml.safe_load(Path(path).read_text()) or {}))
    if getattr(settings, "config", None):
        layers.append(("--config", dict(settings.config)))
    return layers


def stop(message):
    """End the run before any job with one line that names the user's file and key first (no workflow
    traceback: the mistake is in the configuration, not in the workflow)."""
    sys.exit(f"{origin_of(message, config_layers())}: {message}")


try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError:
    stop(schema_problem(config))

from fal.code_hash import SourceFacts, code_hash as source_code_hash  # noqa: E402
from fal.config.budgets import compute_budget  # noqa: E402
from fal.plan.damage import (  # noqa: E402
    DigestCache,
    cache_problem,
    computed_from,
    damage_report,
    find_damaged,
    quarantine,
)
from fal.plan import params as job_params  # noqa: E402
from fal.plan.captions import describe_study  # noqa: E402
from fal.plan.catalog import ALGORITHMS, DATASETS, FIGURES, METHODS, SOURCES, TABLES, check_catalog  # noqa: E402
from fal.plan.checks import training_images  # noqa: E402
from fal.plan.cost import PlannedJob, Submission, plan_summary, submissions_summary  # noqa: E402
from fal.plan.study import resolve_studies, with_overrides_noted  # noqa: E402

CODE_FACTS = SourceFacts(Path(".snakemake/fal-code-hash.json"))
"""What each fal file imports and its normalised digest, kept between runs by content (fal/code_hash.py)."""

try:
    check_catalog()
    STUDIES = resolve_studies(config)
    if len(config_layers()) > 1:  # overrides: captions say what they changed (a description is config.yaml's)
        STUDIES = with_overrides_noted(STUDIES, config_layers()[0][1])
    # Runtime settings (device, threads, batch sizes) do not change results, so they are not rule
    # params (a change would rerun everything); scripts read them from snakemake.config.
    RUNTIME = RuntimeConfig.from_dict(config.get("runtime"))
except ConfigError as exc:
    stop(str(exc))
if "CONDA" in str(workflow.deployment_settings.deployment_method) and not (
    shutil.which("conda") or shutil.which("mamba")
):
    sys.exit(
        "--use-conda needs conda or mamba on PATH: install Miniforge (docs/cluster.md, Conda), "
        "or run without --use-conda from the project's .venv"
    )

RESULTS = config["paths"]["results"]
REPORTS = config["paths"]["reports"]
STAGED = f"{RESULTS}/staged_reports"
"""Where analysis jobs write; rule publish_report copies each file into REPORTS once its job succeeded."""
CACHE = config["paths"]["data_cache"]

# Results whose content no longer matches their digest, or that were computed from inputs now missing
# or changed (fal/integrity.py), found read-only when the workflow is parsed: the DAG forces the jobs
# that rebuild them (so a dry run plans exactly what a run does, and changes no file), and a real run
# moves them to results/.quarantine/ before its first job (onstart).
DIGESTS = DigestCache(Path(".snakemake/fal-digests.json"))
SCANNED = [
    f"{top}/{name}"
    for name in config["run_studies"]
    for top in (RESULTS, STAGED, f"{STAGED}/tables", f"{STAGED}/figures")
]
"""The result folders of the studies this run builds (their sealed files are checked before it)."""
DAMAGED = {}
"""Results whose content no longer matches their digest, or that were computed from inputs now missing or
changed (fal/plan/damage.py), found when the DAG is built: the DAG forces the jobs that rebuild them (so
a dry run plans exactly what a run does, and changes no file), and a real run moves them to
results/.quarantine/ before its first job (onstart)."""
_RUN_PLANNED = []


def plan_run():
    """Once per DAG, in Snakemake's main process, when the DAG is built: keep the data caches, force the
    jobs that rebuild damaged or stale results (a dry run names them), have a dry run end with what the
    plan costs."""
    if _RUN_PLANNED or not workflow.is_main_process:
        return
    _RUN_PLANNED.append(True)
    if workflow.dryrun:
        atexit.register(log_plan_summary)
    keep_data_caches()
    DAMAGED.update(find_damaged(SCANNED + [CACHE], DIGESTS, regenerable=[CACHE]))
    if DAMAGED:
        workflow.dag.forcefiles.update(DAMAGED)
        if workflow.dryrun:
            for line in damage_report(DAMAGED, None):
                logger.warning(line)


def planned(input_function):
    """An input function that first plans the run (every job's DAG passes through one of these)."""

    def wrapped(wildcards):
        plan_run()
        return input_function(wildcards)

    wrapped.__name__ = input_function.__name__
    return wrapped


def keep_data_caches():
    """Rebuild, before the DAG decides what to run, each data cache that results were computed from and
    that is missing, damaged or was built by other code.

    The cache is a deterministic function of the raw files and the code that reads them, so it is not a
    Snakemake-tracked step of finished studies: its code is no param of rule prepare_dataset (a reader
    edit would rerun every consumer, whatever the rebuild gives) but recorded in its sidecar. A real run
    rebuilds it here, in the main process, and then judges what was computed from it against the
    rebuilt file's digest: a byte-identical rebuild reruns nothing, a different one reruns its
    consumers, in the same call. A dry run changes no file: its plan treats the cache as present and says
    that a real run rebuilds it first. A study that has no results yet gets its cache from the
    prepare_dataset job."""
    for source in sorted({DATASETS[s.dataset].source for n in config["run_studies"] for s in STUDIES[n].settings}):
        npz, meta = f"{CACHE}/{source}.npz", f"{CACHE}/{source}.json"
        problem = cache_problem(npz, meta, source_code(source))
        if problem is None or not (computed_from(SCANNED, npz) or computed_from(SCANNED, meta)):
            continue
        if workflow.dryrun:
            pretend_present([npz, meta])
            logger.warning(f"Data cache: {problem}: a real run rebuilds it first, then reruns only what changes")
            continue
        logger.warning(f"Data cache: {problem}: rebuilding it now, before any job")
        build_cache(source, npz, meta)


def pretend_present(paths):
    """The plan of a dry run treats ``paths`` as present (Snakemake's file-state cache, used only while the
    DAG is built): what was computed from them is judged by their digests, not by their absence."""
    from snakemake_interface_storage_plugins.io import Mtime

    for path in paths:
        workflow.iocache.exists_local[path] = True
        workflow.iocache.mtime[path] = Mtime(local=1.0)


def build_cache(source, npz, meta):
    """The prepare_dataset job's work, in this process, sealed with the code that did it."""
    from fal.config.datasets import SourceSpec
    from fal.data.sources import prepare_cache
    from fal.integrity import annotate, seal

    spec = SourceSpec.from_params(job_params.source_params(source))
    paths = config["paths"]
    prepare_cache(
        spec, Path(paths["data_raw"]), paths, config.get("data", {}).get("download", True), Path(npz), Path(meta)
    )
    seal([npz, meta], [], "prepare_dataset")
    for path in (npz, meta):
        annotate(path, code=source_code(source))


def record_cache_code():
    """After a run: the caches its prepare_dataset jobs built record the code that built them."""
    from fal.integrity import annotate

    for job in workflow.dag.needrun_jobs(exclude_finished=False):
        if job.rule.name == "prepare_dataset" and all(Path(f).is_file() for f in job.output):
            for path in job.output:
                annotate(str(path), code=source_code(job.wildcards_dict["source"]))


def planned_jobs():
    """The jobs of this run's plan, as the cost summary reads them (fal/plan/cost.py)."""
    jobs = []
    for job in workflow.dag.needrun_jobs(exclude_finished=False):
        resources = job.resources
        study = job.wildcards_dict.get("study") or report_study(job.wildcards_dict.get("path", ""))
        minutes = float(resources.get("runtime", 0) or 0)
        gpu = bool(resources.get("gpu", 0))
        # GPU jobs request what their shape took where measured (resources.smk)
        seed = job.wildcards_dict.get("seed")
        measured = gpu and bool(job.benchmark) and measured_request(same_shape(str(job.benchmark), seed)) is not None
        jobs.append(PlannedJob(study, job.rule.name, gpu, minutes, int(job.threads or 1), measured))
    return jobs


def submitted_group_resources(group):
    """What a group job asks the cluster for. A dry run's own figure is the local executor's (it adds up
    the GPUs and memory of jobs that run one after another); a submitted group takes its widest layer's
    and adds up the layers' runtimes, as Snakemake computes it for the executor plugin."""
    from snakemake.resources import GroupResources

    return GroupResources.basic_layered(
        toposorted_jobs=group.toposorted,
        constraints=workflow.global_resources,
        run_local=False,
        additive_resources=["runtime"],
        sortby=["runtime"],
    )


def planned_submissions():
    """The cluster submissions of this run's plan: each group job (the profile's ``groups``) once, each
    other job alone, local rules none; empty when no job is grouped (a local run)."""
    dag = workflow.dag
    jobs = list(dag.needrun_jobs(exclude_finished=False))
    if not any(dag.get_job_group(job) for job in jobs):
        return []
    seen, submissions = set(), []
    for job in jobs:
        if job.rule.norun or job.rule.name in workflow._localrules:  # runs where Snakemake runs
            continue
        group = dag.get_job_group(job)
        unit = group if group is not None else job
        if id(unit) in seen:
            continue
        seen.add(id(unit))
        resources = submitted_group_resources(group) if group is not None else job.resources
        members = len(list(group.jobs)) if group is not None else 1
        gpus = int(resources.get("gpu", 0) or 0)
        submissions.append(Submission(gpus, float(resources.get("runtime", 0) or 0), members))
    return submissions


def report_study(path):
    """The study of a published report (``<study>/...``, ``tables/<study>/...``), "-" for none."""
    parts = path.split("/")
    if len(parts) > 2 and parts[0] in ("tables", "figures"):
        return parts[1]
    return parts[0] if len(parts) > 1 else "-"


def log_plan_summary():
    """Jobs per rule and study, and the GPU- and CPU-hours they request, with a warning when large."""
    jobs = planned_jobs()
    if jobs:
        for line in plan_summary(jobs) + submissions_summary(planned_submissions()):
            print(line, file=sys.stderr)


def start_run():
    """A real run, before its first job: say what the plan costs, move the damaged results it rebuilds
    aside (nothing is deleted) and keep the planning caches."""
    for line in plan_summary(planned_jobs()) + submissions_summary(planned_submissions()):
        logger.info(line)
    rebuilt = {output for job in workflow.dag.needrun_jobs() for output in job.output}
    moving = {path: why for path, why in DAMAGED.items() if path in rebuilt}
    if moving:
        for line in damage_report(moving, quarantine(moving, RESULTS)):
            logger.warning(line)
    for path in sorted(set(DAMAGED) - set(moving)):
        logger.warning(f"Damaged or stale result {path}: not needed by this run's targets; left in place")
    DIGESTS.save()
    CODE_FACTS.save()


RUN = f"{RESULTS}/{{study}}/{{setting}}/seed{{seed}}"
LOG_ROOT = config["paths"].get("logs", "logs")
"""Logs and benchmark timings, apart from the results (which are byte-reproducible; these are not)."""
LOGS = f"{LOG_ROOT}/{{study}}"
BENCH = f"{LOG_ROOT}/{{study}}/benchmarks"
TRAIN_BENCHMARK = f"{BENCH}/train/{{setting}}/seed{{seed}}/{{arm}}/cycle{{cycle}}.tsv"
QUERY_BENCHMARK = f"{BENCH}/query/{{setting}}/seed{{seed}}/{{strategy}}/cycle{{cycle}}.tsv"
"""The GPU rules' benchmark files: what their jobs took, and what later jobs of the same shape request
(workflow/rules/resources.smk)."""
STRATEGY_NAMES = sorted({s.name for study in STUDIES.values() for s in study.strategies})
# Arms whose training also writes every client's last-round model (§5.3): the strategies whose queries
# read them, and the shared cycle 1 ("init") of the studies that have such a strategy.
CLIENT_MODEL_ARMS = sorted({s.name for study in STUDIES.values() for s in study.strategies if s.needs_client_models})
CLIENT_MODEL_STUDIES = sorted(
    name for name, study in STUDIES.items() if any(s.needs_client_models for s in study.strategies)
)
PLAIN_ARMS = ["init"] + [name for name in STRATEGY_NAMES if name not in CLIENT_MODEL_ARMS]


def alternatives(names):
    """A regex matching exactly ``names`` (one that matches nothing when the list is empty)."""
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    study="|".join(sorted(STUDIES)),
    setting=r"[^/]+",
    seed=r"\d+",
    cycle=r"\d+",
    arm="|".join(["init"] + STRATEGY_NAMES),
    strategy="|".join(STRATEGY_NAMES),
    source="|".join(SOURCES),
    table="|".join(TABLES),
    figure="|".join(FIGURES),


PUBLISHED = "workflow/published/values.csv"


def study_of(wildcards):
    return STUDIES[wildcards.study]


def setting_of(wildcards):
    return study_of(wildcards).setting(wildcards.setting)


def protocol_of(wildcards):
    """The protocol of the job's setting: the study's, with the setting's axis values (model, FL algorithm)."""
    return study_of(wildcards).protocol_of(wildcards.setting)


def source_of(wildcards):
    return DATASETS[setting_of(wildcards).dataset].source


@planned
def raw_data(wildcards):
    """A prepare job's inputs: none (its raw files are found by its dataset module)."""
    return []


@planned
def partition_inputs(wildcards):
    """The data cache, and the partition file of a ``partition: file`` setting (by content: its digest is
    a param, so moving the file reruns nothing)."""
    inputs = dataset_files(wildcards)
    if setting_of(wildcards).partition == "file":
        inputs["partition_file"] = ancient(study_of(wildcards).partition_path)
    return inputs


@planned
def dataset_files(wildcards):
    source = source_of(wildcards)
    return {"data": f"{CACHE}/{source}.npz", "data_meta": f"{CACHE}/{source}.json"}


def run_dir(wildcards):
    return f"{RESULTS}/{wildcards.study}/{wildcards.setting}/seed{wildcards.seed}"


def arm_of_cycle(cycle, strategy):
    """Where cycle ``cycle``'s labelled set lives: cycle 1's is drawn once per (setting, seed), arm "init"."""
    return "init" if int(cycle) == 1 else strategy


def model_arm(wildcards, cycle, strategy):
    """Which training arm produced cycle ``cycle``'s model for ``strategy``: cycle 1 is trained once
    per (setting, seed) with FedAvg and shared ("init"), unless the strategy trains with another
    federated algorithm from cycle 1 on (KAFAL's KCFU)."""
    if int(cycle) == 1 and not study_of(wildcards).strategy(strategy).trains_own_cycle1:
        return "init"
    return strategy


@planned
def train_inputs(wildcards):
    cycle = int(wildcards.cycle)
    if wildcards.arm == "init" and cycle != 1:
        raise WorkflowError(f"cycle {cycle} of arm 'init' does not exist: arm 'init' is cycle 1 only")
    if wildcards.arm != "init" and model_arm(wildcards, cycle, wildcards.arm) != wildcards.arm:
        raise WorkflowError(
            f"cycle {cycle} of arm {wildcards.arm!r} does not exist: cycle 1 is arm 'init', later cycles belong to strategies"
        )
    if cycle > study_of(wildcards).num_cycles:
        raise WorkflowError(f"study {wildcards.study} has {study_of(wildcards).num_cycles} cycles, not {cycle}")
    base = run_dir(wildcards)
    return {
        **dataset_files(wildcards),
        "partition": f"{base}/partition.parquet",
        "labelled": f"{base}/{arm_of_cycle(cycle, wildcards.arm)}/cycle{cycle}/labelled.parquet",
    }


@planned
def query_inputs(wildcards):
    cycle = int(wildcards.cycle)
    if cycle > study_of(wildcards).num_cycles:
        raise WorkflowError(f"study {wildcards.study} has {study_of(wildcards).num_cycles} cycles, not {cycle}")
    base = run_dir(wildcards)
    previous = f"{base}/{arm_of_cycle(cycle - 1, wildcards.strategy)}/cycle{cycle - 1}"
    trained = f"{base}/{model_arm(wildcards, cycle - 1, wildcards.strategy)}/cycle{cycle - 1}"
    inputs = {
        **dataset_files(wildcards),
        "partition": f"{base}/partition.parquet",
        "labelled": f"{previous}/labelled.parquet",
        "model": f"{trained}/model.pt",
    }
    if cycle - 1 >= 2:  # strategy state (e.g. FairFAL's gamma-bar) written by the previous query
        inputs["state"] = f"{previous}/state.json"
    if study_of(wildcards).strategy(wildcards.strategy).needs_client_models:
        inputs["client_models"] = f"{trained}/client_models.pt"
    return inputs


@planned
def run_metrics_inputs(wildcards):
    base = run_dir(wildcards)
    cycles = range(1, study_of(wildcards).num_cycles + 1)
    folders = [f"{base}/{arm_of_cycle(t, wildcards.strategy)}/cycle{t}" for t in cycles]
    trained = [f"{base}/{model_arm(wildcards, t, wildcards.strategy)}/cycle{t}" for t in cycles]
    return {
        "partition": f"{base}/partition.parquet",
        "rounds": [f"{d}/rounds.parquet" for d in trained],
        "evaluation": [f"{d}/evaluation.parquet" for d in trained],
        "labelled": [f"{d}/labelled.parquet" for d in folders],
        "query": [f"{d}/query.parquet" for d in folders[1:]],
    }


@planned
def study_run_metrics(wildcards):
    study = study_of(wildcards)
    return [
        f"{RESULTS}/{study.name}/{setting.id}/seed{seed}/{strategy.name}/metrics.parquet"
        for setting in study.settings
        for seed in study.seeds
        for strategy in study.strategies
    ]


@planned
def figure_partitions(wildcards):
    study = study_of(wildcards)
    return [
        f"{RESULTS}/{study.name}/{setting}/seed{study.seeds[0]}/partition.parquet"
        for setting in figure_partition_settings(wildcards)
    ]


onstart:
    start_run()


onsuccess:
    record_cache_code()


onerror:
    record_cache_code()
