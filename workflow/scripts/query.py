"""Query the next labelled set with one strategy; write it, the query diagnostics and strategy state."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.datasets import DatasetSpec
from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.runtime import RuntimeConfig
from fal.config.setting import SettingConfig
from fal.config.strategy import StrategyConfig
from fal.data.cache import load_cache
from fal.data.views import Compute, StageInputs
from fal.formats import LABELLED_SCHEMA, PARTITION_SCHEMA, QUERY_SCHEMA
from fal.io import load_client_states, load_state_dict, read_json, read_parquet, write_json_atomic, write_parquet
from fal.job import Stopwatch, configure, job_logger, logged_failures
from fal.provenance import fingerprint as environment
from fal.provenance import parquet_metadata
from fal.strategies.stage import run_query_stage

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("query", sm.log[0]), sm) as log:
    clock = Stopwatch()
    runtime = RuntimeConfig.from_dict({**sm.config.get("runtime", {}), "threads": sm.threads})
    device = configure(runtime)
    strategy = StrategyConfig.from_params(sm.wildcards.strategy, sm.params.config["strategy"])
    inputs = StageInputs(
        setting=SettingConfig.from_params(sm.params.setting),
        protocol=ProtocolConfig.from_params(sm.params.config["protocol"]),
        fidelity=FidelityConfig.from_params(sm.params.config["fidelity"]),
        seed=int(sm.wildcards.seed),
        cycle=int(sm.wildcards.cycle) - 1,  # the cycle whose model is queried
        arrays=load_cache(sm.input.data, sm.input.data_meta),
        partition=read_parquet(sm.input.partition, PARTITION_SCHEMA),
        labelled=read_parquet(sm.input.labelled, LABELLED_SCHEMA),
        spec=DatasetSpec.from_params(sm.params.dataset),
    )
    out = run_query_stage(
        inputs,
        Compute(device, log, runtime.inference_batch(device)),
        strategy=strategy,
        global_state=load_state_dict(sm.input.model),
        previous_state=read_json(sm.input.state) if "state" in sm.input.keys() else {},
        client_states=load_client_states(sm.input.client_models) if "client_models" in sm.input.keys() else None,
    )
    where = parquet_metadata([environment(device, runtime.precision)])
    write_parquet(out.diagnostics, sm.output.diagnostics, QUERY_SCHEMA, metadata=where)
    write_json_atomic(sm.output.state, out.state)
    write_parquet(out.labelled, sm.output.labelled, LABELLED_SCHEMA)
    log.info("query done in %.1fs; state %s", clock.elapsed(), out.state)
