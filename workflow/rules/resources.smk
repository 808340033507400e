# Cluster resources: what a job asks a scheduler for (SLURM: --time, --mem, --gpus; the workstation
# profile: `gpu` slots). Local runs without --resources ignore them, and none is a param, so changing
# them reruns nothing and changes no result. Training and query jobs request what the study's finished
# jobs of the same shape took (their benchmark files: fal/plan/requests.py) and, where none has finished,
# the model below, which is generous for one GPU. A job that runs out of time or memory is retried (the
# profiles' `retries`) with `attempt` times as much, and a retried training job resumes from its last
# round checkpoint.
import math

from fal.plan.requests import measured_request, same_shape

GPU_IMAGE_PASSES_PER_MINUTE = 300_000
"""Images through the 4-conv CNN (forward and backward) per minute that runtimes are budgeted for:
a conservative figure for one GPU. Slower hardware: raise runtimes with --set-resources."""


def source_megabytes(source):
    """Size of a source dataset's uint8 arrays (train + test), in MB."""
    spec = next(s for s in DATASETS.values() if s.source == source)
    images = SOURCES[source].num_train + SOURCES[source].num_test
    return math.ceil(images * spec.channels * spec.image_size**2 / 1e6)


def labelled_images(wildcards, cycle):
    """Labelled images over all clients in a (1-based) AL cycle."""
    setting, protocol = setting_of(wildcards), protocol_of(wildcards)
    budget = compute_budget(
        training_images(setting), setting.num_clients, protocol.initial_ratio, protocol.query_ratio, protocol.end_ratio
    )
    return setting.num_clients * (budget.per_client_initial + budget.per_client_query * (cycle - 1))


def evaluation_images(wildcards):
    setting = setting_of(wildcards)
    source = DATASETS[setting.dataset].source
    if setting.test_per_class is not None:
        return setting.test_per_class * DATASETS[setting.dataset].num_classes
    return SOURCES[source].num_test


def measured_shape(benchmark, wildcards):
    """The request that the study's finished jobs of this job's shape support (``benchmark``: the rule's
    benchmark file pattern; the shape: every seed of the same setting, arm or strategy and cycle), or
    None (fal/plan/requests.py)."""
    own = benchmark.format(**dict(wildcards.items()))
    return measured_request(same_shape(own, wildcards.seed))


def train_runtime(wildcards, attempt):
    """Minutes for one AL cycle: what its shape took where measured; otherwise grows with rounds, local
    epochs and the cycle's labelled set."""
    measured = measured_shape(TRAIN_BENCHMARK, wildcards)
    if measured is not None:
        return attempt * measured.minutes
    protocol = protocol_of(wildcards)
    passes = protocol.rounds * (
        protocol.local_epochs * labelled_images(wildcards, int(wildcards.cycle)) + evaluation_images(wildcards)
    )
    return attempt * (10 + math.ceil(passes / GPU_IMAGE_PASSES_PER_MINUTE))


def query_runtime(wildcards, attempt):
    """Minutes for one query: what its shape took where measured; otherwise scoring the training pool a
    few times, plus local-only models (Entropy-L, FairFAL) trained from scratch on the previous cycle's
    labelled set."""
    measured = measured_shape(QUERY_BENCHMARK, wildcards)
    if measured is not None:
        return attempt * measured.minutes
    local = protocol_of(wildcards).local_model
    previous = labelled_images(wildcards, int(wildcards.cycle) - 1)
    passes = 4 * training_images(setting_of(wildcards)) + local.epochs * previous
    return attempt * (10 + math.ceil(passes / GPU_IMAGE_PASSES_PER_MINUTE))


def gpu_job_mem_mb(wildcards, attempt):
    """Host memory of a training/query job: torch with CUDA (~4 GB) plus the dataset several times."""
    return attempt * (6000 + 8 * source_megabytes(source_of(wildcards)))


def measured_mem_mb(benchmark):
    """A rule's mem_mb: what its shape's finished jobs peaked at, with a margin, where measured;
    otherwise the model (``gpu_job_mem_mb``)."""

    def mem_mb(wildcards, attempt):
        measured = measured_shape(benchmark, wildcards)
        if measured is not None and measured.mem_mb is not None:
            return attempt * measured.mem_mb
        return gpu_job_mem_mb(wildcards, attempt)

    return mem_mb


train_mem_mb = measured_mem_mb(TRAIN_BENCHMARK)
query_mem_mb = measured_mem_mb(QUERY_BENCHMARK)


def data_job_mem_mb(wildcards, attempt):
    """Host memory of dataset preparation and partitioning (no torch model)."""
    source = wildcards.source if "source" in wildcards.keys() else source_of(wildcards)
    return attempt * (2000 + 8 * source_megabytes(source))


def small_job_mem_mb(wildcards, attempt):
    """Metrics, tables and figures: Parquet files of a few MB."""
    return attempt * 2000


def small_job_runtime(wildcards, attempt):
    """Minutes for partitioning, metrics, tables and figures (seconds of work each; a grouped
    SLURM job adds them up layer by layer, so keep this small)."""
    return attempt * 5
