"""Collect one run's per-cycle outputs into its metrics Parquet."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.budgets import cycle_ratio
from fal.config.datasets import DatasetSpec
from fal.config.protocol import ProtocolConfig
from fal.formats import (
    EVALUATION_SCHEMA,
    LABELLED_SCHEMA,
    METRICS_SCHEMA,
    PARTITION_SCHEMA,
    QUERY_SCHEMA,
    ROUNDS_SCHEMA,
)
from fal.io import read_parquet, write_parquet
from fal.job import job_logger, logged_failures
from fal.provenance import parquet_metadata, with_jobs
from fal.stats.metrics import CycleRecord, run_metrics

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("run_metrics", sm.log[0]), sm) as log:
    setting = sm.params.setting
    strategy = sm.params.config["strategy"]
    protocol = ProtocolConfig.from_params(sm.params.config["protocol"])
    partition = read_parquet(sm.input.partition, PARTITION_SCHEMA)
    train = partition[partition["split"] == "train"].sort_values("position")
    labels = train["label"].to_numpy()
    queries = [None] + [read_parquet(p, QUERY_SCHEMA) for p in sm.input.query]
    cycles = [
        CycleRecord(
            cycle=t,
            labelled_ratio=round(100.0 * cycle_ratio(protocol.initial_ratio, protocol.query_ratio, t), 6),
            rounds=read_parquet(sm.input.rounds[t - 1], ROUNDS_SCHEMA),
            evaluation=read_parquet(sm.input.evaluation[t - 1], EVALUATION_SCHEMA),
            labelled=read_parquet(sm.input.labelled[t - 1], LABELLED_SCHEMA),
            query=queries[t - 1],
        )
        for t in range(1, len(sm.input.rounds) + 1)
    ]
    metrics = run_metrics(
        study=sm.wildcards.study,
        setting=setting,
        setting_id=sm.params.setting_id,
        strategy=sm.wildcards.strategy,
        method=strategy["method"],
        selector=strategy["selector"],
        seed=int(sm.wildcards.seed),
        labels=labels,
        num_classes=DatasetSpec.from_params(sm.params.dataset).partition_classes,
        cycles=cycles,
        # per-client budgets: the share of the clients' images (a partition file may leave some unassigned)
        num_train=int((train["client"] >= 0).sum()) if protocol.budget_rule != "equal" else None,
    )
    computed_on = [item for path in [*sm.input.rounds, *sm.input.query] for item in with_jobs(path)]
    write_parquet(metrics, sm.output[0], METRICS_SCHEMA, metadata=parquet_metadata(computed_on))
    final = metrics[metrics["metric"] == "final_test_acc"]
    log.info("final test accuracy per cycle: %s", dict(zip(final["labelled_ratio"], final["value"].round(2))))
