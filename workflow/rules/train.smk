# One AL cycle of federated training. Cycle 1 (arm "init") is shared by all strategies of a run.


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{RUN}/{{arm}}/cycle{{cycle}}/model.pt",
        rounds=f"{RUN}/{{arm}}/cycle{{cycle}}/rounds.parquet",
        evaluation=f"{RUN}/{{arm}}/cycle{{cycle}}/evaluation.parquet",
    log:
        f"{LOGS}/train/{{setting}}/seed{{seed}}/{{arm}}/cycle{{cycle}}.log",
    benchmark:
        f"{BENCH}/train/{{setting}}/seed{{seed}}/{{arm}}/cycle{{cycle}}.tsv"
    params:
        setting=lambda wc: setting_of(wc).to_dict(),
        protocol=lambda wc: study_of(wc).protocol.to_dict(),
        fidelity=lambda wc: study_of(wc).fidelity.to_dict(),
        code=code_hash(*TRAIN_CODE, "workflow/scripts/train.py"),
    threads: RUNTIME.threads
    resources:
        mem_mb=gpu_job_mem_mb,
        runtime=train_runtime,
        gpu=1,
    conda:
        "../../envs/fal.yaml"
    script:
        "../scripts/train.py"
