"""Accuracy versus labelled ratio, one panel per setting (PNG and PDF)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.formats import METRICS_SCHEMA
from fal.io import read_parquet
from fal.job import job_logger, logged_failures
from fal.plots.curves import accuracy_curves, save_figure
from fal.stats.metrics import headline_measure

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("accuracy_figure", sm.log[0]), sm) as log:
    metrics = read_parquet(sm.input.metrics, METRICS_SCHEMA)
    info = sm.params.info
    fig = accuracy_curves(
        metrics,
        {s["name"]: s["label"] for s in info["strategies"]},
        f'Study "{sm.wildcards.study}": final-round accuracy per AL cycle',
        info["dataset_labels"],
        headline_measure(info["multi_label"]),
    )
    save_figure(fig, sm.output.png, sm.output.pdf)
    log.info("-> %s, %s", sm.output.png, sm.output.pdf)
