# Dataset cache and partitions.


rule prepare_dataset:
    input:
        raw_data,
    output:
        npz=f"{CACHE}/{{source}}.npz",
        meta=f"{CACHE}/{{source}}.json",
    log:
        f"{LOG_ROOT}/prepare_dataset/{{source}}.log",
    benchmark:
        f"{LOG_ROOT}/benchmarks/prepare_dataset/{{source}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=data_job_mem_mb,
        runtime=lambda wc, attempt: attempt * 30,  # may download the raw dataset
    params:
        # the source's declaration: its checksums are what the data must match (not where the files are read from)
        source=source_params,
    script:
        "../scripts/prepare_dataset.py"


rule partition:
    input:
        unpack(partition_inputs),
    output:
        partition=f"{RUN}/partition.parquet",
        summary=f"{RUN}/partition.json",
        labelled=f"{RUN}/init/cycle1/labelled.parquet",
    log:
        f"{LOGS}/partition/{{setting}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/partition/{{setting}}/seed{{seed}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=data_job_mem_mb,
        runtime=small_job_runtime,
    params:
        setting=setting_params,
        dataset=dataset_params,
        config=partition_config,
        code=script_code("partition"),
    script:
        "../scripts/partition.py"
