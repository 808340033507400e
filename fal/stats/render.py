"""Rendering a table's cells as Markdown, LaTeX (booktabs, no extra dependency), CSV and HTML."""

from __future__ import annotations

import math

import pandas as pd

from fal.config.outputs import PaperTable
from fal.stats.cells import SETTING_KEYS, STRATEGY_KEYS
from fal.stats.labels import ordered_unique

ACCURACY_LEGEND = "Cells: test accuracy (%) of the global model, mean ± sample sd over seeds."
PUBLISHED_LEGEND = "Where the paper published the cell: [paper value, Δ = reproduced − published]."
NO_PUBLISHED_LEGEND = (
    "No published value is shown: the paper published none of these cells for this study's protocol and data "
    "(a reduced protocol, such as the quick preset's, is never compared)."
)


def published_legend(cells: pd.DataFrame) -> str:
    """How to read the published values beside the cells, or why there are none."""
    has = "published" in cells and bool((cells["published"].astype(str) != "").any())
    return PUBLISHED_LEGEND if has else NO_PUBLISHED_LEGEND


def _with_published(text: str, published: str, difference: float) -> str:
    if not published:
        return text
    if isinstance(difference, float) and not math.isnan(difference):
        return f"{text} [paper {published}, Δ {difference:+.2f}]"
    return f"{text} [paper {published}]"


def _grid(block: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    rows = ordered_unique(block["row"])
    cols = ordered_unique(block["column"])
    cells = {
        (r, c): _with_published(t, p, d)
        for r, c, t, p, d in zip(block["row"], block["column"], block["text"], block["published"], block["difference"])
    }
    return rows, cols, cells


def _legend(table: PaperTable) -> str:
    """How to read the table's cells: its declared legend, else the accuracy tables' one."""
    return table.legend or ACCURACY_LEGEND


def to_markdown(cells: pd.DataFrame, table: PaperTable, caption: str) -> str:
    lines = [f"# {table.heading}", "", caption, "", f"{_legend(table)} {published_legend(cells)}", ""]
    if cells.empty:
        lines += ["*This study has no runs that fill this table.*", ""]
        return "\n".join(lines)
    for block_name, block in cells.groupby("block", sort=False):
        if block_name:
            lines += [f"## {block_name}", ""]
        rows, cols, grid = _grid(block)
        lines.append("| | " + " | ".join(cols) + " |")
        lines.append("|---|" + "|".join(["---:"] * len(cols)) + "|")
        for r in rows:
            lines.append(f"| {r} | " + " | ".join(grid.get((r, c), "–") for c in cols) + " |")
        lines.append("")
    return "\n".join(lines)


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_SYMBOLS = {
    "±": r"$\pm$",
    "α": r"$\alpha$",
    "ρ": r"$\rho$",
    "δ": r"$\delta$",
    "κ": r"$\kappa$",
    "Δ": r"$\Delta$",
    "π⁺": r"$\pi^+$",
    "∞": r"$\infty$",
    "–": "--",
    "−": "$-$",
    "·": r"$\cdot$",
    "½": r"$\frac{1}{2}$",
    "Σ": r"$\Sigma$",
}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))
    for symbol, replacement in _LATEX_SYMBOLS.items():
        out = out.replace(symbol, replacement)
    return out


def to_latex(cells: pd.DataFrame, table: PaperTable, caption: str) -> str:
    """A booktabs table per block, written by hand (no jinja2 dependency)."""
    label = f"tab:{table.name}"
    lines = [f"% {table.heading}", r"% needs \usepackage{booktabs}"]
    if cells.empty:
        return "\n".join(lines + ["% this study has no runs that fill this table", ""])
    for k, (block_name, block) in enumerate(cells.groupby("block", sort=False)):
        rows, cols, grid = _grid(block)
        title = table.heading + (f" ({block_name})" if block_name else "")
        lines += [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{latex_escape(title)}. {latex_escape(caption)} {latex_escape(_legend(table))} {latex_escape(published_legend(cells))}}}",
            rf"\label{{{label}{'' if k == 0 else f'-{k + 1}'}}}",
            r"\begin{tabular}{l" + "r" * len(cols) + "}",
            r"\toprule",
            " & ".join([""] + [latex_escape(c) for c in cols]) + r" \\",
            r"\midrule",
        ]
        for r in rows:
            lines.append(" & ".join([latex_escape(r)] + [latex_escape(grid.get((r, c), "–")) for c in cols]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


CSV_COLUMNS = ["block", "row", "column", "text", "mean", "std", "n_seeds", "published", "difference", "source"]


def to_csv_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The machine-readable table: display keys, numbers, published value and difference, and match keys."""
    extra = [
        c
        for c in [
            "setting",
            *SETTING_KEYS,
            *STRATEGY_KEYS,
            "labelled_ratio",
            "benchmark",
            "statistic",
            "winner",
            "positive_ratio",
            "wilcoxon_p",
            "hodges_lehmann",
        ]
        if c in cells.columns
    ]
    return cells.reindex(columns=CSV_COLUMNS + extra)


def to_html(cells: pd.DataFrame, table: PaperTable, caption: str) -> str:
    """A standalone HTML page of the table (what `snakemake --report` shows)."""
    import html

    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(table.heading)}</title>",
        "<style>body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse;margin-bottom:1.5em}"
        " th,td{border:1px solid #ccc;padding:3px 7px;text-align:right} th:first-child,td:first-child{text-align:left}"
        " .pub{color:#555;font-size:11px}</style></head><body>",
        f"<h2>{html.escape(table.heading)}</h2>",
        f"<p>{html.escape(caption)}</p>",
        f"<p>{html.escape(_legend(table))} {html.escape(published_legend(cells))}</p>",
    ]
    if cells.empty:
        parts.append("<p><em>This study has no runs that fill this table.</em></p>")
    for block_name, block in cells.groupby("block", sort=False):
        if block_name:
            parts.append(f"<h3>{html.escape(block_name)}</h3>")
        rows = ordered_unique(block["row"])
        cols = ordered_unique(block["column"])
        lookup = {
            (r, c): (t, p, d)
            for r, c, t, p, d in zip(
                block["row"], block["column"], block["text"], block["published"], block["difference"]
            )
        }
        parts.append("<table><tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            tds = []
            for c in cols:
                if (r, c) not in lookup:
                    tds.append("<td>–</td>")
                    continue
                text, pub, diff = lookup[(r, c)]
                extra = ""
                if pub:
                    delta = f", Δ {diff:+.2f}" if isinstance(diff, float) and not math.isnan(diff) else ""
                    extra = f'<br><span class="pub">paper {html.escape(str(pub))}{delta}</span>'
                tds.append(f"<td>{html.escape(text)}{extra}</td>")
            parts.append(f"<tr><td>{html.escape(r)}</td>" + "".join(tds) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
