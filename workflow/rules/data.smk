# Dataset cache and partitions.


rule prepare_dataset:
    output:
        npz=f"{CACHE}/{{source}}.npz",
        meta=f"{CACHE}/{{source}}.json",
    log:
        f"{RESULTS}/logs/prepare_dataset/{{source}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_dataset/{{source}}.tsv"
    conda:
        "../../envs/fal.yaml"
    resources:
        mem_mb=data_job_mem_mb,
        runtime=lambda wc, attempt: attempt * 30,  # may download the raw dataset
    params:
        raw_dir=config["paths"]["data_raw"],
        fmnist_system=config["paths"].get("fmnist_system"),
        download=config.get("data", {}).get("download", True),
        code=code_hash(
            "fal/data/sources.py", "fal/data/datasets.py", "fal/io.py", "workflow/scripts/prepare_dataset.py"
        ),
    script:
        "../scripts/prepare_dataset.py"


rule partition:
    input:
        unpack(dataset_files),
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
        setting=lambda wc: setting_of(wc).to_dict(),
        protocol=lambda wc: study_of(wc).protocol.to_dict(),
        fidelity=lambda wc: study_of(wc).fidelity.to_dict(),
        code=code_hash(*CORE_CODE, "workflow/scripts/partition.py"),
    script:
        "../scripts/partition.py"
