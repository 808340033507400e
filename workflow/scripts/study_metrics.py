"""Concatenate a study's per-run metrics (schema-checked) into one Parquet."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

import pandas as pd

from fal.formats import METRICS_SCHEMA
from fal.io import read_parquet, write_parquet
from fal.job import job_logger, logged_failures
from fal.provenance import parquet_metadata, read_fingerprints

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("study_metrics", sm.log[0]), sm) as log:
    frames = [read_parquet(path, METRICS_SCHEMA) for path in sm.input]
    metrics = pd.concat(frames, ignore_index=True)
    computed_on = [item for path in sm.input for item in read_fingerprints(path)]
    write_parquet(metrics, sm.output[0], METRICS_SCHEMA, metadata=parquet_metadata(computed_on))
    log.info("%d runs, %d rows -> %s", len(frames), len(metrics), sm.output[0])
