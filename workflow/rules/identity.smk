# What each job computes, written into its params (Snakemake reruns a job when a param changes, and
# does not track Python imports by itself): the code it runs, the configuration it computes with
# (fal/config/params.py) and the project files it reads.
import hashlib


def federated_of_arm(wildcards):
    """The federated algorithm (and its options) that trains an arm: FedAvg for "init"."""
    if wildcards.arm == "init":
        return {"algorithm": "fedavg"}
    multi_label = DATASETS[setting_of(wildcards).dataset].multi_label
    return study_of(wildcards).strategy(wildcards.arm).resolved_federated(multi_label)


def analysis_info(wildcards):
    return study_of(wildcards).analysis_info()


def output_caption(kind, wildcards):
    """What was run, for the report and the tables: the study, its seeds, protocol and fidelity."""
    name = wildcards.table if kind == "table" else wildcards.figure
    title = (TABLES if kind == "table" else FIGURES)[name].title
    return f"{title}. {describe_study(study_of(wildcards).analysis_info())}"


def table_caption(wildcards):
    return output_caption("table", wildcards)


def figure_caption(wildcards):
    return output_caption("figure", wildcards)


def figure_partition_settings(wildcards):
    """Settings whose partition (first seed) the figure reads; none for figures built from metrics alone."""
    if wildcards.figure not in FIGURES_NEEDING_PARTITIONS:
        return []
    return [setting.id for setting in study_of(wildcards).settings]


def arm_algorithm(wildcards):
    """The FL algorithm that trains an arm: the protocol's, or the strategy's own update (KCFU)."""
    strategy = None if wildcards.arm == "init" else study_of(wildcards).strategy(wildcards.arm).federated
    return choose_algorithm(protocol_of(wildcards).fl_algorithm, strategy)


def partition_config(wildcards):
    """What a partition computes with: the initial budget and the partition's fidelity switches."""
    return {
        "protocol": protocol_params(protocol_of(wildcards), "partition"),
        "fidelity": fidelity_params(study_of(wildcards).fidelity, "partition"),
    }


def train_config(wildcards):
    """What one training cycle computes with: the training schedule and its fidelity switches."""
    job = {"cycle": int(wildcards.cycle), "algorithm": arm_algorithm(wildcards)}
    return {
        "protocol": protocol_params(protocol_of(wildcards), "train", **job),
        "fidelity": fidelity_params(study_of(wildcards).fidelity, "train", **job),
    }


def query_config(wildcards):
    """What one query computes with: the budget, the query models' training, the strategy's resolved
    options and its fidelity switches."""
    strategy = study_of(wildcards).strategy(wildcards.strategy)
    return {
        "protocol": protocol_params(protocol_of(wildcards), "query"),
        "fidelity": fidelity_params(
            study_of(wildcards).fidelity, "query", method=strategy.method, cycle=int(wildcards.cycle)
        ),
        "strategy": strategy.query_params(DATASETS[setting_of(wildcards).dataset].multi_label),
    }


def metrics_config(wildcards):
    """What a run's metrics record: the cycles' nominal ratios, the budget rule, the strategy's labels."""
    return {
        "protocol": protocol_params(protocol_of(wildcards), "metrics"),
        "strategy": study_of(wildcards).strategy(wildcards.strategy).metrics_params(),
    }


def script_code(script, *modules):
    """Code identity of a rule: a hash of its script and of every ``fal`` module the script imports,
    transitively (read from the source; fal/code_identity.py), plus ``modules`` it imports by name at
    run time. Normalised, so comment, docstring and formatting edits rerun nothing; editing a module
    reruns exactly the rules whose scripts import it."""
    return source_code_hash(PROJECT_ROOT, [f"workflow/scripts/{script}.py"], modules, CODE_FACTS)


def prepare_dataset_code(wildcards):
    """The preparation script plus the module that reads this source's files (loaded by name)."""
    return script_code("prepare_dataset", SOURCES[wildcards.source].module)


def query_code(wildcards):
    """The query script plus the strategy's method module (loaded by name): editing one method reruns
    only its own queries."""
    return script_code("query", METHODS[study_of(wildcards).strategy(wildcards.strategy).method].module)


def train_code(wildcards):
    """The training script plus the module of the FL algorithm that trains this arm (loaded by name)."""
    return script_code("train", ALGORITHMS[arm_algorithm(wildcards)].module)


def paper_table_code(wildcards):
    """The table script plus the module of the paper that declares the table (loaded by name)."""
    return script_code("paper_table", TABLES[wildcards.table].module)


def paper_figure_code(wildcards):
    """The figure script plus the module of the paper that declares the figure (loaded by name)."""
    return script_code("paper_figure", FIGURES[wildcards.figure].module)


def file_digest(relpath):
    """SHA-256 of a project file's bytes: the param that reruns a rule reading it (the input is marked
    ``ancient`` so that a checkout or clone, which renews its mtime, reruns nothing)."""
    return hashlib.sha256((PROJECT_ROOT / relpath).read_bytes()).hexdigest()[:16]
