# Tables and figures. They read only the study's metrics Parquet and never retrain.


rule accuracy_table:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
    output:
        csv=report(
            f"{STAGED}/{{study}}/table_accuracy.csv",
            caption="../report/table_accuracy.rst",
            category="Tables",
            subcategory="{study}",
            labels={"study": "{study}", "table": "accuracy per cycle"},
        ),
        markdown=f"{STAGED}/{{study}}/table_accuracy.md",
        provenance=f"{STAGED}/{{study}}/provenance.json",
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
        info=analysis_info,
        code=script_code("accuracy_table"),
    script:
        "../scripts/accuracy_table.py"


rule accuracy_figure:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
    output:
        png=report(
            f"{STAGED}/{{study}}/accuracy_curves.png",
            caption="../report/accuracy_curves.rst",
            category="Figures",
            subcategory="{study}",
            labels={"study": "{study}", "figure": "accuracy curves"},
        ),
        pdf=f"{STAGED}/{{study}}/accuracy_curves.pdf",
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
        info=analysis_info,
        code=script_code("accuracy_figure"),
    script:
        "../scripts/accuracy_figure.py"


# The papers' tables and figures a study declares (studies.X.tables / figures): each its own target,
# e.g. reports/tables/quick/table1.md or reports/figures/quick/figure2.png.


rule paper_table:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
        # a project file, not a job output: its content (params.published) reruns the table, not its mtime
        published=ancient(PUBLISHED),
    output:
        html=report(
            f"{STAGED}/tables/{{study}}/{{table}}.html",
            caption="../report/paper_output.rst",
            category="Tables",
            subcategory="{study}",
            labels={"study": "{study}", "table": "{table}"},
        ),
        markdown=f"{STAGED}/tables/{{study}}/{{table}}.md",
        csv=f"{STAGED}/tables/{{study}}/{{table}}.csv",
        latex=f"{STAGED}/tables/{{study}}/{{table}}.tex",
        seeds=f"{STAGED}/tables/{{study}}/{{table}}_seeds.csv",
    log:
        f"{LOGS}/paper_table/{{table}}.log",
    benchmark:
        f"{BENCH}/paper_table/{{table}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    params:
        info=analysis_info,
        table=table_declaration,
        caption=table_caption,
        published=file_digest(PUBLISHED),
        code=paper_table_code,
    script:
        "../scripts/paper_table.py"


rule paper_figure:
    input:
        metrics=f"{RESULTS}/{{study}}/metrics.parquet",
        partitions=figure_partitions,
    output:
        png=report(
            f"{STAGED}/figures/{{study}}/{{figure}}.png",
            caption="../report/paper_output.rst",
            category="Figures",
            subcategory="{study}",
            labels={"study": "{study}", "figure": "{figure}"},
        ),
        pdf=f"{STAGED}/figures/{{study}}/{{figure}}.pdf",
    log:
        f"{LOGS}/paper_figure/{{figure}}.log",
    benchmark:
        f"{BENCH}/paper_figure/{{figure}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    params:
        info=analysis_info,
        figure=figure_declaration,
        caption=figure_caption,
        partition_settings=figure_partition_settings,
        code=paper_figure_code,
    script:
        "../scripts/paper_figure.py"


# Reports are written to a staging folder first and copied into reports/ only when the job succeeded:
# Snakemake deletes a job's outputs when it starts and when it fails, so a failing table or figure job
# never removes the published (or committed) copy.
localrules:
    publish_report,


rule publish_report:
    input:
        f"{STAGED}/{{path}}",
    output:
        f"{REPORTS}/{{path}}",
    log:
        f"{LOG_ROOT}/publish_report/{{path}}.log",
    benchmark:
        f"{LOG_ROOT}/benchmarks/publish_report/{{path}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    shell:
        "cp {input:q} {output:q} 2> {log:q}"
