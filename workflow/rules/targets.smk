# What `all` builds: every study's published reports (and their staged originals).
TABLE_FILES = {"markdown": "md", "csv": "csv", "latex": "tex", "html": "html"}
FIGURE_FILES = {"png": "png", "pdf": "pdf"}


def study_report_targets(name):
    study = STUDIES[name]
    tables = [
        f"{REPORTS}/tables/{name}/{table}{suffix}"
        for table in study.tables
        for suffix in [*(f".{ext}" for ext in TABLE_FILES.values()), "_seeds.csv"]
    ]
    figures = [f"{REPORTS}/figures/{name}/{figure}.{ext}" for figure in study.figures for ext in FIGURE_FILES.values()]
    return [
        f"{REPORTS}/{name}/table_accuracy.md",
        f"{REPORTS}/{name}/table_accuracy.csv",
        f"{REPORTS}/{name}/provenance.json",
        f"{REPORTS}/{name}/accuracy_curves.png",
        f"{REPORTS}/{name}/accuracy_curves.pdf",
        *tables,
        *figures,
    ]


def all_targets():
    """Every study's published reports and their staged originals under results/: asking for the staged
    files too means a fresh clone (committed reports, no results) runs the study, while a finished
    study, or one copied in with its results, has nothing to do."""
    reports = [target for name in config["run_studies"] for target in study_report_targets(name)]
    return reports + [STAGED + target[len(REPORTS) :] for target in reports]
