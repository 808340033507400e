"""One paper figure of a study (PNG and PDF) from its metrics Parquet (and partitions where needed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.outputs import PaperFigure
from fal.formats import METRICS_SCHEMA, PARTITION_SCHEMA
from fal.io import read_parquet
from fal.job import job_logger, logged_failures
from fal.plots.curves import save_figure
from fal.plots.papers import build_figure

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("paper_figure", sm.log[0]), sm) as log:
    metrics = read_parquet(sm.input.metrics, METRICS_SCHEMA)
    partitions = {
        setting: read_parquet(path, PARTITION_SCHEMA)
        for setting, path in zip(sm.params.partition_settings, sm.input.partitions)
    }
    fig = build_figure(PaperFigure.from_params(sm.params.figure), metrics, sm.params.info, partitions)
    save_figure(fig, sm.output.png, sm.output.pdf)
    log.info("-> %s, %s", sm.output.png, sm.output.pdf)
