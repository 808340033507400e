"""The README's paper catalog: every paper table and figure → the study that produces it → its target →
what it needs, derived from config.yaml (``python -m fal.config.docs`` prints it; a test keeps
the README in step)."""

from __future__ import annotations

from fal.config.datasets import DATASETS
from fal.config.outputs import FIGURES, TABLES


def paper_catalog(studies: dict) -> str:
    """The README's catalog: each paper table and figure → the study that produces it → its target → what
    it needs. ``studies``: name → ``fal.config.Study`` (resolved from config.yaml)."""
    rows = ["| paper output | study | target | needs |", "|---|---|---|---|"]
    for name, study in studies.items():
        if not study.uses_paper_protocol:
            continue  # reduced protocols (the quick preset) reproduce nothing published
        downloads = sorted({DATASETS[s.dataset].source for s in study.settings} - {"fmnist"})
        needs = "GPU" + (f", downloads: {', '.join(downloads)}" if downloads else "")
        outputs = [(TABLES[t].paper_output, f"reports/tables/{name}/{t}.md") for t in study.tables]
        outputs += [(FIGURES[f].paper_output, f"reports/figures/{name}/{f}.png") for f in study.figures]
        for label, target in outputs:
            rows.append(f"| {label} | `{name}` | `{target}` | {needs} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    import yaml

    from fal.config import resolve_study

    config = yaml.safe_load(Path(sys.argv[1] if len(sys.argv) > 1 else "config.yaml").read_text())
    print(paper_catalog({name: resolve_study(config, name) for name in config["studies"]}))
