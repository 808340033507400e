# Per-run metrics Parquet, then one metrics Parquet per study.


rule run_metrics:
    input:
        unpack(run_metrics_inputs),
    output:
        f"{RUN}/{{strategy}}/metrics.parquet",
    log:
        f"{LOGS}/run_metrics/{{setting}}/seed{{seed}}/{{strategy}}.log",
    benchmark:
        f"{BENCH}/run_metrics/{{setting}}/seed{{seed}}/{{strategy}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    params:
        setting=setting_params,
        setting_id=lambda wc: wc.setting,
        dataset=dataset_params,
        config=metrics_config,
        code=script_code("run_metrics"),
    script:
        "../scripts/run_metrics.py"


rule study_metrics:
    input:
        study_run_metrics,
    output:
        f"{RESULTS}/{{study}}/metrics.parquet",
    log:
        f"{LOGS}/study_metrics.log",
    benchmark:
        f"{BENCH}/study_metrics.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=small_job_mem_mb,
        runtime=small_job_runtime,
    params:
        code=script_code("study_metrics"),
    script:
        "../scripts/study_metrics.py"
