# One AL cycle of federated training. Cycle 1 (arm "init") is shared by all strategies of a run,
# except strategies trained with another federated algorithm from cycle 1 on (KAFAL's KCFU).
# Arms whose queries read last-round client models run as train_keep_clients, and cycle 1 of studies
# with such a strategy as train_init_keep_clients; both also write client_models.pt, a dict
# {client: state dict} saved with torch.save.


ruleorder: train_init_keep_clients > train


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
        TRAIN_BENCHMARK
    wildcard_constraints:
        arm=alternatives(PLAIN_ARMS),
    conda:
        "../../envs/fal.yaml"
    threads: RUNTIME.threads
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=1,
    params:
        setting=setting_params,
        dataset=dataset_params,
        config=train_config,
        code=train_code,
    script:
        "../scripts/train.py"


use rule train as train_keep_clients with:
    output:
        model=f"{RUN}/{{arm}}/cycle{{cycle}}/model.pt",
        rounds=f"{RUN}/{{arm}}/cycle{{cycle}}/rounds.parquet",
        evaluation=f"{RUN}/{{arm}}/cycle{{cycle}}/evaluation.parquet",
        client_models=f"{RUN}/{{arm}}/cycle{{cycle}}/client_models.pt",
    wildcard_constraints:
        arm=alternatives(CLIENT_MODEL_ARMS),


use rule train as train_init_keep_clients with:
    output:
        model=f"{RUN}/{{arm}}/cycle{{cycle}}/model.pt",
        rounds=f"{RUN}/{{arm}}/cycle{{cycle}}/rounds.parquet",
        evaluation=f"{RUN}/{{arm}}/cycle{{cycle}}/evaluation.parquet",
        client_models=f"{RUN}/{{arm}}/cycle{{cycle}}/client_models.pt",
    wildcard_constraints:
        arm="init",
        study=alternatives(CLIENT_MODEL_STUDIES),
