"""What a paper module declares: its tables (``fal/stats/papers/``) and figures (``fal/plots/papers/``),
as ``OUTPUTS = (PaperTable(...), PaperFigure(...), ...)`` beside the functions that build them.

The planning side reads the declarations without importing the modules (``fal.plan.catalog.TABLES``,
``FIGURES``); a table or figure job gets its declaration in its params and imports only its paper's module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fal.registry import Declaration


@dataclass(frozen=True)
class PaperTable(Declaration):
    """A table of a paper; its entry point is ``builder(metrics, info, published) -> (cells, per-seed values)``."""

    title: str
    """"<Paper> Table N: what it shows" (the catalog's and the captions' wording)."""
    heading: str = ""
    """The title printed in the table's files (Markdown, LaTeX, HTML)."""
    legend: str = ""
    """How to read a cell, printed under the table."""
    multi_label: bool = False
    """Whether it reads a multi-label study's metric (the mean AUC in the accuracy columns); a study of
    multi-label data refuses the others."""

    @property
    def paper_output(self) -> str:
        """ "FairFAL Table 1": the part of the title before its colon."""
        return self.title.split(":")[0]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PaperTable:
        """The declaration a table job gets in its params (``Declaration.to_params``)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values)


@dataclass(frozen=True)
class PaperFigure(Declaration):
    """A figure of a paper; its entry point is ``builder(metrics, info, partitions, heading) -> Figure``."""

    title: str
    heading: str = ""
    """The title drawn above the figure (after the study's name)."""
    needs_partitions: bool = False
    """Whether it reads the settings' partition files (class frequencies, client × class counts)."""
    multi_label: bool = False
    """As PaperTable.multi_label."""

    @property
    def paper_output(self) -> str:
        return self.title.split(":")[0]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PaperFigure:
        """The declaration a figure job gets in its params (``Declaration.to_params``)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values)
