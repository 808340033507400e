"""The query stage: from cycle t's global model and labelled set to cycle t+1's labelled set."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fal.config import StrategyConfig
from fal.config.budgets import client_budget
from fal.config.methods import METHODS
from fal.data.build import extend_labelled, labelled_lists, unlabelled_pool
from fal.data.views import Compute, StageInputs
from fal.federated.local import LocalTrainingConfig, last_round_models, scratch_models
from fal.federated.loss_prediction import build_strategy_model
from fal.seeding import derive_seed
from fal.strategies.base import (
    ClientPool,
    ClientTestSplits,
    QueryOutcome,
    QueryStep,
)


def load_query_function(method: str) -> Callable[[QueryStep, StrategyConfig], QueryOutcome]:
    """The ``query`` function of a registered method (its module is imported only now)."""
    try:
        info = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; available: {sorted(METHODS)}") from None
    return importlib.import_module(info.module).query


class StrategyContractError(RuntimeError):
    """A strategy returned an index set that breaks the query contract."""


@dataclass
class QueryStageOutputs:
    labelled: pd.DataFrame
    diagnostics: pd.DataFrame
    state: dict


def check_outcome(outcome: QueryOutcome, pools: list[ClientPool], strategy: str) -> None:
    """Each client's exact budget, no duplicates, only unlabelled samples of the client's own pool."""
    for pool in pools:
        chosen = np.asarray(outcome.selected.get(pool.client, []), dtype=np.int64)
        where = f"strategy {strategy}, client {pool.client}"
        expected = min(pool.budget, len(pool.unlabelled))
        if len(chosen) != expected:
            raise StrategyContractError(f"{where}: returned {len(chosen)} indices, the budget is {expected}")
        if len(np.unique(chosen)) != len(chosen):
            raise StrategyContractError(f"{where}: returned duplicate indices")
        outside = np.setdiff1d(chosen, pool.unlabelled)
        if outside.size:
            raise StrategyContractError(
                f"{where}: returned indices that are labelled or not in the client's pool: {outside[:5].tolist()}"
            )


def run_query_stage(
    inputs: StageInputs,
    compute: Compute,
    *,
    strategy: StrategyConfig,
    global_state: dict,
    previous_state: dict | None = None,
    client_states: dict[int, dict] | None = None,
) -> QueryStageOutputs:
    """Query with ``strategy`` using cycle ``inputs.cycle``'s model (``global_state``); the result is cycle
    ``inputs.cycle + 1``'s labelled set. ``previous_state``: what the previous query of this strategy
    carried over (FairFAL's γ̄); ``client_states``: the training stage's last-round client models (needed
    when the strategy's local model kind is ``last_round``)."""
    setting, protocol, fidelity, seed, cycle = (
        inputs.setting,
        inputs.protocol,
        inputs.fidelity,
        inputs.seed,
        inputs.cycle,
    )
    device, log, labelled = compute.device, compute.log, inputs.labelled
    previous_state = previous_state or {}
    spec = inputs.spec
    data = inputs.setting_data(device)
    # each client's share of this step (initial_ratio is the partition's business, not a query param)
    query_budgets = client_budget(
        protocol.budget_rule, len(data.train_labels), [len(pool) for pool in data.pools], protocol.query_ratio
    )

    loss_prediction = strategy.resolved_federated().get("loss_prediction")

    def make_model(init_seed: int):  # the protocol's backbone, with LL4AL's loss module when the strategy trains one
        return build_strategy_model(protocol.model, spec, init_seed, device, loss_prediction)

    global_model = make_model(0)
    global_model.load_state_dict(global_state)
    global_model.eval()

    # One shared random init for every client's local-only model of this step (§5.1). It does not
    # depend on the strategy, so L-selectors see the same local models at the first query step.
    local_init_seed = derive_seed(seed, "local_init", cycle)
    init_state = make_model(local_init_seed).state_dict()
    build = lambda: make_model(local_init_seed)  # noqa: E731
    kind = strategy.local_model_kind or "scratch"
    if kind == "last_round":
        if client_states is None:
            raise ValueError(f"strategy {strategy.name} queries with last-round client models, but none were given")
        local_models = last_round_models(build, client_states)
    else:
        # finetune (§5.2): the same training as scratch, from a copy of the global model
        local_models = scratch_models(
            build,
            global_state if kind == "finetune" else init_state,
            data.train_bank,
            LocalTrainingConfig.from_protocol(protocol, fidelity),
            (seed, "local", cycle),
            log.info,
        )

    def fresh_local_model():
        model = build()
        model.load_state_dict(init_state)
        return model

    pools = []
    for client, labelled_positions in enumerate(labelled_lists(labelled, setting.num_clients)):
        unlabelled = unlabelled_pool(data.pools[client], labelled_positions, fidelity.pool_order)
        pools.append(
            ClientPool(
                client=client,
                labelled=labelled_positions,
                labelled_labels=data.targets_of(labelled_positions),
                unlabelled=unlabelled,
                budget=query_budgets[client],
            )
        )
    for pool in pools:
        if len(pool.unlabelled) < pool.budget:
            log.warning(
                "client %d has %d unlabelled samples, fewer than the budget %d: the query takes all of them",
                pool.client,
                len(pool.unlabelled),
                pool.budget,
            )
    step = QueryStep(
        cycle=cycle,
        num_classes=spec.num_classes,
        pools=pools,
        global_model=global_model,
        local_models=local_models,
        query_bank=data.query_bank,
        seed_keys=(seed, strategy.name, cycle),
        fidelity=fidelity,
        state=dict(previous_state),
        batch_size=compute.inference_batch_size,
        client_test=ClientTestSplits(data.test_bank, data.test_labels, data.client_tests),
        train_bank=data.train_bank,
        fresh_local_model=fresh_local_model,
        new_model=make_model,
        protocol=protocol,
        multi_label=spec.multi_label,
    )
    per_client = sorted(set(query_budgets))
    log.info(
        "cycle %d → %d: querying %s per client with %s (method %s, query model %s, local model %s) on %s seed %d",
        cycle,
        cycle + 1,
        per_client[0] if len(per_client) == 1 else list(query_budgets),
        strategy.name,
        strategy.method,
        strategy.query_model or "-",
        strategy.local_model_kind or "-",
        setting.id,
        seed,
    )
    outcome = load_query_function(strategy.method)(step, strategy)
    check_outcome(outcome, pools, strategy.name)

    rows = [dict(r) for r in outcome.diagnostics]
    for pool in pools:
        queried = data.class_counts(outcome.selected[pool.client])
        rows += [
            {"client": pool.client, "class": c, "metric": "queried_count", "value": float(n)}
            for c, n in enumerate(queried)
        ]
        info = local_models.info.get(pool.client)
        if info is not None:
            rows += [
                {"client": pool.client, "metric": "local_model_epochs", "value": float(info.epochs)},
                {"client": pool.client, "metric": "local_model_train_acc", "value": 100.0 * info.train_accuracy},
            ]
        log.info("client %d queried class counts %s", pool.client, queried.tolist())
    diagnostics = pd.DataFrame(rows, columns=["client", "class", "metric", "value"])
    diagnostics["class"] = diagnostics["class"].astype("Int16")
    new_labelled = extend_labelled(labelled, outcome.selected, cycle + 1, setting.num_clients)
    return QueryStageOutputs(labelled=new_labelled, diagnostics=diagnostics, state=outcome.state)
