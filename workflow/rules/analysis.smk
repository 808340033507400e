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
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    params:
        strategies=lambda wc: [s.name for s in study_of(wc).strategies],
        ratios=lambda wc: list(study_of(wc).table_ratios) if study_of(wc).table_ratios else None,
        description=lambda wc: study_of(wc).description,
        code=code_hash(*METRICS_CODE, "fal/stats/tables.py", "workflow/scripts/accuracy_table.py"),
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
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    params:
        strategies=lambda wc: [s.name for s in study_of(wc).strategies],
        code=code_hash(*METRICS_CODE, "fal/plots", "workflow/scripts/accuracy_figure.py"),
    script:
        "../scripts/accuracy_figure.py"


# The papers' tables and figures a study declares (studies.X.tables / figures): each its own target,
# e.g. reports/tables/quick/table1.md or reports/figures/quick/figure2.png.


rule paper_table:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
        published=PUBLISHED,
    output:
        html=report(
            f"{REPORTS}/tables/{{study}}/{{table}}.html",
            caption="../report/paper_output.rst",
            category="Tables",
            subcategory="{study}",
            labels={"study": "{study}", "table": "{table}"},
        ),
        markdown=f"{REPORTS}/tables/{{study}}/{{table}}.md",
        csv=f"{REPORTS}/tables/{{study}}/{{table}}.csv",
        latex=f"{REPORTS}/tables/{{study}}/{{table}}.tex",
        seeds=f"{REPORTS}/tables/{{study}}/{{table}}_seeds.csv",
    log:
        f"{LOGS}/paper_table/{{table}}.log",
    benchmark:
        f"{BENCH}/paper_table/{{table}}.tsv"
    conda:
        "../../envs/fal.yaml"
    params:
        info=analysis_info,
        caption=table_caption,
        code=code_hash(*PAPER_TABLE_CODE),
    script:
        "../scripts/paper_table.py"


rule paper_figure:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
        partitions=figure_partitions,
    output:
        png=report(
            f"{REPORTS}/figures/{{study}}/{{figure}}.png",
            caption="../report/paper_output.rst",
            category="Figures",
            subcategory="{study}",
            labels={"study": "{study}", "figure": "{figure}"},
        ),
        pdf=f"{REPORTS}/figures/{{study}}/{{figure}}.pdf",
    log:
        f"{LOGS}/paper_figure/{{figure}}.log",
    benchmark:
        f"{BENCH}/paper_figure/{{figure}}.tsv"
    conda:
        "../../envs/fal.yaml"
    params:
        info=analysis_info,
        caption=figure_caption,
        partition_settings=figure_partition_settings,
        code=code_hash(*PAPER_FIGURE_CODE),
    script:
        "../scripts/paper_figure.py"
