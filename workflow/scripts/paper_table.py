"""One paper table of a study (CSV, Markdown, LaTeX, and the per-seed values) from its metrics Parquet."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.outputs import PaperTable
from fal.formats import METRICS_SCHEMA
from fal.io import atomic_path, read_parquet, write_text_atomic
from fal.job import job_logger, logged_failures
from fal.provenance import describe, read_fingerprints
from fal.stats.papers import build_table
from fal.stats.published import load_published
from fal.stats.render import to_csv_frame, to_html, to_latex, to_markdown

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("paper_table", sm.log[0]), sm) as log:
    metrics = read_parquet(sm.input.metrics, METRICS_SCHEMA)
    published = load_published(sm.input.published)
    table = PaperTable.from_params(sm.params.table)
    cells, per_seed = build_table(table, metrics, sm.params.info, published)
    with atomic_path(sm.output.csv) as tmp:
        to_csv_frame(cells).to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(sm.output.seeds) as tmp:
        per_seed.to_csv(tmp, index=False, float_format="%.4f")
    computed_with = describe(read_fingerprints(sm.input.metrics))
    markdown = to_markdown(cells, table, sm.params.caption)
    write_text_atomic(sm.output.markdown, f"{markdown}{computed_with}\n")
    write_text_atomic(sm.output.latex, to_latex(cells, table, sm.params.caption))
    write_text_atomic(sm.output.html, to_html(cells, table, f"{sm.params.caption} {computed_with}"))
    log.info(
        "%d cells (%d with a published value) -> %s",
        len(cells),
        int((cells["published"] != "").sum()) if len(cells) else 0,
        sm.output.markdown,
    )
