# What each job computes, written into its params (Snakemake reruns a job when a param changes, and
# does not track Python imports by itself): the code it runs and the project files it reads.


def script_code(script, *modules):
    """Code identity of a rule: a hash of its script and of every ``fal`` module the script imports,
    transitively (read from the source; fal/code_identity.py), plus ``modules`` it imports by name at
    run time. Normalised, so comment, docstring and formatting edits rerun nothing; editing a module
    reruns exactly the rules whose scripts import it."""
    return source_code_hash(PROJECT_ROOT, [f"workflow/scripts/{script}.py"], modules)


def prepare_dataset_code(wildcards):
    """The preparation script plus the module that reads this source's files (loaded by name)."""
    return script_code("prepare_dataset", SOURCES[wildcards.source].module)


def query_code(wildcards):
    """The query script plus the strategy's method module (loaded by name): editing one method reruns
    only its own queries."""
    return script_code("query", METHODS[study_of(wildcards).strategy(wildcards.strategy).method].module)


def train_code(wildcards):
    """The training script plus the module of the FL algorithm that trains this arm (loaded by name)."""
    strategy = None if wildcards.arm == "init" else study_of(wildcards).strategy(wildcards.arm).federated
    algorithm = choose_algorithm(protocol_of(wildcards).fl_algorithm, strategy)
    return script_code("train", ALGORITHMS[algorithm].implementation.split(":")[0])


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
