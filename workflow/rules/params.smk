# What each job computes with, written into its params (Snakemake reruns a job when a param changes, and
# does not track Python imports by itself): the code it runs (a hash of exactly the fal modules it
# loads), the configuration and declarations it computes with (fal/plan/params.py), the project files
# it reads.
import hashlib


def setting_params(wildcards):
    return setting_of(wildcards).to_dict()


def dataset_params(wildcards):
    """The dataset's declaration (its display name left out: a label changes only tables and figures)."""
    return job_params.dataset_params(study_of(wildcards), wildcards.setting)


def source_params(wildcards):
    return job_params.source_params(wildcards.source)


def partition_config(wildcards):
    return job_params.partition_params(study_of(wildcards), wildcards.setting)


def train_config(wildcards):
    return job_params.train_params(study_of(wildcards), wildcards.setting, wildcards.arm, int(wildcards.cycle))


def query_config(wildcards):
    return job_params.query_params(study_of(wildcards), wildcards.setting, wildcards.strategy, int(wildcards.cycle))


def metrics_config(wildcards):
    return job_params.metrics_params(study_of(wildcards), wildcards.setting, wildcards.strategy)


def analysis_info(wildcards):
    return study_of(wildcards).analysis_info()


def table_declaration(wildcards):
    return TABLES[wildcards.table].to_params()


def figure_declaration(wildcards):
    return FIGURES[wildcards.figure].to_params()


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
    if not FIGURES[wildcards.figure].needs_partitions:
        return []
    return [setting.id for setting in study_of(wildcards).settings]


def script_code(script, *modules):
    """The code hash of a rule: a hash of its script and of every ``fal`` module the script imports,
    transitively (read from the source; fal/code_hash.py), plus ``modules`` it loads by name at run time
    (fal.registry.load_entry). Normalised, so comment, docstring and formatting edits rerun nothing;
    editing a module reruns exactly the rules whose jobs load it."""
    return source_code_hash(PROJECT_ROOT, [f"workflow/scripts/{script}.py"], modules, CODE_FACTS)


def source_code(source):
    """The code that builds a source's data cache: the preparation script plus the module that reads the
    source's files (loaded by name). Not a param of prepare_dataset: the sidecar of the cache records it
    (common.smk, keep_data_caches)."""
    return script_code("prepare_dataset", SOURCES[source].module)


def train_code(wildcards):
    """The training script plus the modules the job loads by name (fal/plan/params.py, train_modules)."""
    modules = job_params.train_modules(study_of(wildcards), wildcards.setting, wildcards.arm, int(wildcards.cycle))
    return script_code("train", *modules)


def query_code(wildcards):
    """The query script plus the modules the job loads by name (fal/plan/params.py, query_modules)."""
    modules = job_params.query_modules(study_of(wildcards), wildcards.setting, wildcards.strategy, int(wildcards.cycle))
    return script_code("query", *modules)


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
