# One query step: cycle t's global model and labelled set -> cycle t+1's labelled set.


rule query:
    input:
        unpack(query_inputs),
    output:
        labelled=f"{RUN}/{{strategy}}/cycle{{cycle,[2-9]|[1-9][0-9]+}}/labelled.parquet",
        diagnostics=f"{RUN}/{{strategy}}/cycle{{cycle}}/query.parquet",
        state=f"{RUN}/{{strategy}}/cycle{{cycle}}/state.json",
    log:
        f"{LOGS}/query/{{setting}}/seed{{seed}}/{{strategy}}/cycle{{cycle}}.log",
    benchmark:
        QUERY_BENCHMARK
    conda:
        "../../envs/fal.yaml"
    threads: RUNTIME.threads
    resources:
        mem_mb=query_mem_mb,
        runtime=query_runtime,
        gpu=1,
    params:
        setting=setting_params,
        dataset=dataset_params,
        config=query_config,
        code=query_code,
    script:
        "../scripts/query.py"
