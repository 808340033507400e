"""The study's accuracy table (Tables 5/6 layout) as CSV and Markdown."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.formats import METRICS_SCHEMA
from fal.io import atomic_path, read_parquet, write_json_atomic, write_text_atomic
from fal.job import job_logger, logged_failures
from fal.provenance import describe, merge, read_fingerprints
from fal.stats.accuracy_summary import accuracy_markdown, accuracy_summary
from fal.stats.cells import labelled_shares
from fal.stats.metrics import headline_measure

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("accuracy_table", sm.log[0]), sm) as log:
    metrics = read_parquet(sm.input.metrics, METRICS_SCHEMA)
    info = sm.params.info
    ratios = list(info["table_ratios"]) if info["table_ratios"] else None
    summary = accuracy_summary(metrics, {s["name"]: s["label"] for s in info["strategies"]}, ratios)
    with atomic_path(sm.output.csv) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4f")
    measure = headline_measure(info["multi_label"])
    caption = (
        f"Study `{sm.wildcards.study}`: {info['description'].strip()} "
        f"Cells: final-round {measure} (%) of the global model after each AL cycle; "
        "columns: labelled samples in % of the training set."
    )
    markdown = accuracy_markdown(
        summary, f"Accuracy: {sm.wildcards.study}", caption, labelled_shares(metrics), measure=measure
    )
    computed_on = merge(read_fingerprints(sm.input.metrics))
    write_text_atomic(sm.output.markdown, f"{markdown}{describe(computed_on)}\n")
    write_json_atomic(sm.output.provenance, computed_on)  # what `make verify` compares across machines
    log.info("%d cells -> %s, %s", len(summary), sm.output.csv, sm.output.markdown)
