# Tables and figures. They read only the study's metrics Parquet and never retrain.


rule accuracy_table:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
    output:
        csv=report(
            f"{REPORTS}/{{study}}/table_accuracy.csv",
            caption="../report/table_accuracy.rst",
            category="Tables",
        ),
        markdown=f"{REPORTS}/{{study}}/table_accuracy.md",
    log:
        f"{LOGS}/accuracy_table.log",
    benchmark:
        f"{BENCH}/accuracy_table.tsv"
    params:
        strategies=lambda wc: [s.name for s in study_of(wc).strategies],
        ratios=lambda wc: list(study_of(wc).table_ratios) if study_of(wc).table_ratios else None,
        description=lambda wc: study_of(wc).description,
        code=code_hash(*METRICS_CODE, "fal/stats/tables.py", "workflow/scripts/accuracy_table.py"),
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    conda:
        "../../envs/fal.yaml"
    script:
        "../scripts/accuracy_table.py"


rule accuracy_figure:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
    output:
        png=report(
            f"{REPORTS}/{{study}}/accuracy_curves.png",
            caption="../report/accuracy_curves.rst",
            category="Figures",
        ),
        pdf=f"{REPORTS}/{{study}}/accuracy_curves.pdf",
    log:
        f"{LOGS}/accuracy_figure.log",
    benchmark:
        f"{BENCH}/accuracy_figure.tsv"
    params:
        strategies=lambda wc: [s.name for s in study_of(wc).strategies],
        code=code_hash(*METRICS_CODE, "fal/plots", "workflow/scripts/accuracy_figure.py"),
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    conda:
        "../../envs/fal.yaml"
    script:
        "../scripts/accuracy_figure.py"
