# Configuration validation, path templates, wildcard constraints and input functions.
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
from fal.plan.config_schema import schema_problem  # noqa: E402

try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError:
    raise WorkflowError(f"Invalid configuration: {schema_problem(config)}") from None

from fal.code_hash import SourceFacts, code_hash as source_code_hash  # noqa: E402
from fal.config.budgets import compute_budget  # noqa: E402
from fal.plan.damage import DigestCache, damage_report, find_damaged, quarantine  # noqa: E402
from fal.plan import params as job_params  # noqa: E402
from fal.plan.captions import describe_study  # noqa: E402
from fal.plan.catalog import ALGORITHMS, DATASETS, FIGURES, METHODS, SOURCES, TABLES, check_catalog  # noqa: E402
from fal.plan.checks import training_images  # noqa: E402
from fal.plan.study import resolve_studies  # noqa: E402

CODE_FACTS = SourceFacts(Path(".snakemake/fal-code-hash.json"))
"""What each fal file imports and its normalised digest, kept between runs by content (fal/code_hash.py)."""

try:
    check_catalog()
    STUDIES = resolve_studies(config)
    # Runtime settings (device, threads, batch sizes) do not change results, so they are not rule
    # params (a change would rerun everything); scripts read them from snakemake.config.
    RUNTIME = RuntimeConfig.from_dict(config.get("runtime"))
except ConfigError as exc:
    raise WorkflowError(f"Invalid configuration: {exc}") from None
if "CONDA" in str(workflow.deployment_settings.deployment_method) and not (
    shutil.which("conda") or shutil.which("mamba")
):
    raise WorkflowError(
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
DAMAGED = (
    find_damaged(
        [
            f"{top}/{name}"
            for name in config["run_studies"]
            for top in (RESULTS, STAGED, f"{STAGED}/tables", f"{STAGED}/figures")
        ]
        + [CACHE],
        DIGESTS,
        regenerable=[CACHE],
    )
    if workflow.is_main_process
    else {}
)
_REBUILDS_PLANNED = []


def plan_rebuilds():
    """Once per DAG, when Snakemake builds it: force the jobs that write damaged or stale results (a dry
    run names them)."""
    if _REBUILDS_PLANNED or not DAMAGED:
        return
    _REBUILDS_PLANNED.append(True)
    workflow.dag.forcefiles.update(DAMAGED)
    if workflow.dryrun:
        for line in damage_report(DAMAGED, None):
            logger.warning(line)


def planned(input_function):
    """An input function that first plans the rebuilds (every job's DAG passes through one of these)."""

    def wrapped(wildcards):
        plan_rebuilds()
        return input_function(wildcards)

    wrapped.__name__ = input_function.__name__
    return wrapped


def start_run():
    """A real run, before its first job: move the damaged results it rebuilds aside (nothing is deleted)
    and keep the planning caches."""
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
LOGS = f"{RESULTS}/{{study}}/logs"
BENCH = f"{RESULTS}/{{study}}/benchmarks"
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
