"""Train one AL cycle; write the global model, per-round metrics, per-class test accuracy and, for
arms whose queries need them, every client's last-round model."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.datasets import DatasetSpec
from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.runtime import RuntimeConfig
from fal.config.setting import SettingConfig
from fal.data.cache import load_cache
from fal.data.views import Compute, StageInputs
from fal.federated.stage import TrainingAlgorithm, run_training_stage
from fal.federated.training import RoundCheckpoint
from fal.federated.vectorised import VectorisedOptions
from fal.formats import EVALUATION_SCHEMA, LABELLED_SCHEMA, PARTITION_SCHEMA, ROUNDS_SCHEMA
from fal.io import fingerprint, read_parquet, save_client_states, save_state_dict, write_parquet
from fal.job import configure, job_logger, logged_failures
from fal.provenance import fingerprint as environment
from fal.provenance import parquet_metadata

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("train", sm.log[0]), sm) as log:
    runtime = RuntimeConfig.from_dict({**sm.config.get("runtime", {}), "threads": sm.threads})
    device = configure(runtime)
    # Intra-job checkpoint beside the outputs (not a declared output, so Snakemake keeps it when it
    # cleans up a killed job); removed once the outputs are written.
    checkpoint = None
    protocol = ProtocolConfig.from_params(sm.params.config["protocol"])
    if runtime.checkpoint_interval(protocol.rounds) > 0:
        job = {"params": dict(sm.params.items()), "wildcards": dict(sm.wildcards.items())}
        checkpoint = RoundCheckpoint(
            f"{sm.output.model}.resume.pt",
            runtime.checkpoint_interval(protocol.rounds),
            fingerprint(job, [sm.input.labelled, sm.input.partition, sm.input.data_meta]),
        )
    inputs = StageInputs(
        setting=SettingConfig.from_params(sm.params.setting),
        protocol=protocol,
        fidelity=FidelityConfig.from_params(sm.params.config["fidelity"]),
        seed=int(sm.wildcards.seed),
        cycle=int(sm.wildcards.cycle),
        arrays=load_cache(sm.input.data, sm.input.data_meta),
        partition=read_parquet(sm.input.partition, PARTITION_SCHEMA),
        labelled=read_parquet(sm.input.labelled, LABELLED_SCHEMA),
        spec=DatasetSpec.from_params(sm.params.dataset),
    )
    out = run_training_stage(
        inputs,
        Compute(device, log, runtime.inference_batch(device)),
        algorithm=TrainingAlgorithm.from_params(sm.params.config),
        keep_client_models="client_models" in sm.output.keys(),
        trainer=runtime.resolved_trainer(device),
        vectorised_options=VectorisedOptions(compile=runtime.compile, precision=runtime.precision),
        checkpoint=checkpoint,
    )
    if "client_models" in sm.output.keys():
        if out.result.client_states is None:
            raise RuntimeError("the trainer kept no client models although this arm's queries read them")
        save_client_states(out.result.client_states, sm.output.client_models)
    trainer = runtime.resolved_trainer(device)
    where = parquet_metadata([environment(device, runtime.precision, trainer)])
    rounds = out.result.rounds.drop(columns="seconds")  # a time, logged per round: not a result
    write_parquet(rounds, sm.output.rounds, ROUNDS_SCHEMA, metadata=where)
    write_parquet(out.evaluation, sm.output.evaluation, EVALUATION_SCHEMA)
    save_state_dict(out.result.state_dict, sm.output.model)
    if checkpoint is not None:
        checkpoint.clear()
