"""The papers' tables and figures a study can declare (``studies.X.tables`` / ``figures``), read from
the paper modules' declarations.

One module per paper in ``fal/stats/papers/`` (tables) and ``fal/plots/papers/`` (figures) declares
``OUTPUTS = (PaperTable(...), PaperFigure(...), ...)`` beside the functions that build them; this
module finds the declarations by parsing those files (``fal.config.declarations``), so configuration
and the Snakefile can validate names cheaply, and editing one paper's module reruns only its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from fal.config.datasets import DATASET_LABELS
from fal.config.declarations import FAL_ROOT, module_name, modules_in, read_declarations

TABLE_MODULES_DIR = FAL_ROOT / "stats" / "papers"
FIGURE_MODULES_DIR = FAL_ROOT / "plots" / "papers"


@dataclass(frozen=True)
class PaperTable:
    """A table of a paper: ``builder(metrics, info, published) -> (cells, per-seed values)``."""

    name: str
    """The name studies use (``studies.X.tables``) and the target's file name."""
    title: str
    """"<Paper> Table N: what it shows" (the catalog's and the captions' wording)."""
    heading: str
    """The title printed in the table's files (Markdown, LaTeX, HTML)."""
    builder: str
    """Name of the function in the declaring module that builds the cells."""
    legend: str = ""
    """How to read a cell, printed under the table."""
    multi_label: bool = False
    """Whether it reads a multi-label study's metric (the mean AUC in the accuracy columns); a study of
    multi-label data refuses the others."""
    module: str = field(default="", compare=False)
    """The declaring module (filled in by discovery)."""

    @property
    def paper_output(self) -> str:
        """ "FairFAL Table 1": the part of the title before its colon."""
        return self.title.split(":")[0]


@dataclass(frozen=True)
class PaperFigure:
    """A figure of a paper: ``builder(metrics, info, partitions, heading) -> matplotlib Figure``."""

    name: str
    title: str
    heading: str
    """The title drawn above the figure (after the study's name)."""
    builder: str
    needs_partitions: bool = False
    """Whether it reads the settings' partition files (class frequencies, client × class counts)."""
    multi_label: bool = False
    """As PaperTable.multi_label."""
    module: str = field(default="", compare=False)

    @property
    def paper_output(self) -> str:
        return self.title.split(":")[0]


def discover_outputs(
    table_dir: Path = TABLE_MODULES_DIR, figure_dir: Path = FIGURE_MODULES_DIR
) -> tuple[dict[str, PaperTable], dict[str, PaperFigure]]:
    """Every table and figure declared by the paper modules, by name (each kind's names are unique)."""
    types = {"PaperTable": PaperTable, "PaperFigure": PaperFigure}
    found: dict[type, dict] = {PaperTable: {}, PaperFigure: {}}
    for directory, kind in ((table_dir, PaperTable), (figure_dir, PaperFigure)):
        for path in modules_in(directory):
            for declared in read_declarations(path, "OUTPUTS", types):
                if not isinstance(declared, kind):
                    raise ValueError(
                        f"{path}: {type(declared).__name__} {declared.name!r} belongs in {kind.__name__}'s folder"
                    )
                if declared.name in found[kind]:
                    raise ValueError(f"{kind.__name__} {declared.name!r} is declared twice ({path})")
                found[kind][declared.name] = replace(declared, module=module_name(path))
    return found[PaperTable], found[PaperFigure]


TABLES, FIGURES = discover_outputs()

FIGURES_NEEDING_PARTITIONS = {name for name, figure in FIGURES.items() if figure.needs_partitions}
"""Figures that read the partition files besides the metrics."""


def describe_study(info: dict) -> str:
    """What was run, for captions: study, description, seeds, protocol and fidelity."""
    p = info["protocol"]
    seeds = info["seeds"]
    settings = "; ".join(
        ", ".join(
            filter(
                None,
                [
                    DATASET_LABELS.get(s["dataset"], s["dataset"]),
                    None if s.get("rho") is None else f"ρ={s['rho']:g}",
                    f"α={s['alpha']:g}",
                    f"{s['num_clients']} clients",
                    s.get("model") if s.get("model") != p.get("model") else None,
                    s.get("fl_algorithm")
                    if (s.get("fl_algorithm") or "fedavg") != (p.get("fl_algorithm") or "fedavg")
                    else None,
                    None
                    if s.get("client_fraction") is None  # set only where a study varies it
                    else f"{100 * s['client_fraction']:g} % of clients per round",
                ],
            )
        )
        for s in info["settings"].values()
    )
    description = info.get("description", "").strip()
    if description and not description.endswith("."):
        description += "."
    models = sorted({s.get("model") or p["model"] for s in info["settings"].values()})
    return (
        f"Study {info['name']}: {description} Settings: {settings}. "
        f"Seeds {', '.join(map(str, seeds))} ({len(seeds)}). Protocol: {p['rounds']} rounds × {p['local_epochs']} local epochs, "
        f"lr {p['lr']:g}, batch {p['batch_size']}, model {', '.join(models)}, labelled {100 * p['initial_ratio']:g}% → {100 * p['end_ratio']:g}% "
        f"in steps of {100 * p['query_ratio']:g}%; fidelity preset {info.get('fidelity', 'faithful')}."
    )
