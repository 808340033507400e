"""The query stage: from cycle t's global model and labelled set to cycle t+1's labelled set."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from torch import nn

from fal.config.budgets import client_budget
from fal.config.strategy import StrategyConfig
from fal.data.build import extend_labelled, labelled_lists, unlabelled_pool
from fal.data.views import Compute, SettingData, StageInputs
from fal.federated.flconfig import load_extension
from fal.federated.local import ClientModels, LocalTrainingConfig, last_round_models, scratch_models
from fal.federated.models import build_cycle_model
from fal.registry import load_entry
from fal.seeding import derive_seed
from fal.strategies.base import (
    ClientPool,
    ClientTestSplits,
    QueryOutcome,
    QueryStep,
)

QueryFunction = Callable[[QueryStep, StrategyConfig], QueryOutcome]
"""A method's entry point: ``query(step, strategy) -> QueryOutcome``."""


def load_query_function(strategy: StrategyConfig) -> QueryFunction:
    """The ``query`` function of the strategy's method (its module is imported only now)."""
    return cast(QueryFunction, load_entry(strategy.entry))


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


def _local_models(
    inputs: StageInputs,
    data: SettingData,
    strategy: StrategyConfig,
    make_model: Callable[[int], nn.Module],
    global_state: dict,
    client_states: dict[int, dict] | None,
    log: logging.Logger,
) -> tuple[ClientModels, dict]:
    """The strategy's L models (§5) and the query step's shared random init they start from (§5.1): one
    init for every client's local-only model of this step, whatever the strategy, so that L-selectors see
    the same local models at the first query step."""
    seed, cycle = inputs.seed, inputs.cycle
    local_init_seed = derive_seed(seed, "local_init", cycle)
    init_state = make_model(local_init_seed).state_dict()
    kind = strategy.local_model_kind or "scratch"
    if kind == "last_round":
        if client_states is None:
            raise ValueError(f"strategy {strategy.name} queries with last-round client models, but none were given")
        return last_round_models(lambda: make_model(local_init_seed), client_states), init_state
    # finetune (§5.2): the same training as scratch, from a copy of the global model
    models = scratch_models(
        lambda: make_model(local_init_seed),
        global_state if kind == "finetune" else init_state,
        data.train_bank,
        LocalTrainingConfig.from_protocol(inputs.protocol, inputs.fidelity),
        (seed, "local", cycle),
        log.info,
    )
    return models, init_state


def _client_pools(
    inputs: StageInputs, data: SettingData, budgets: Sequence[int], log: logging.Logger
) -> list[ClientPool]:
    """Each client's labelled and unlabelled positions (in the fidelity's pool order) and its budget."""
    pools = []
    for client, labelled_positions in enumerate(labelled_lists(inputs.labelled, inputs.setting.num_clients)):
        unlabelled = unlabelled_pool(data.pools[client], labelled_positions, inputs.fidelity.pool_order)
        pool = ClientPool(
            client=client,
            labelled=labelled_positions,
            labelled_labels=data.targets_of(labelled_positions),
            unlabelled=unlabelled,
            budget=budgets[client],
        )
        if len(pool.unlabelled) < pool.budget:
            log.warning(
                "client %d has %d unlabelled samples, fewer than the budget %d: the query takes all of them",
                pool.client,
                len(pool.unlabelled),
                pool.budget,
            )
        pools.append(pool)
    return pools


def _diagnostics(
    outcome: QueryOutcome, pools: list[ClientPool], data: SettingData, local_models: ClientModels, log: logging.Logger
) -> pd.DataFrame:
    """The strategy's own diagnostics, each client's queried class counts and its local model's training."""
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
    return diagnostics


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
    setting, protocol, seed, cycle = inputs.setting, inputs.protocol, inputs.seed, inputs.cycle
    device, log, spec = compute.device, compute.log, inputs.spec
    data = inputs.setting_data(device)
    # each client's share of this step (initial_ratio is the partition's business, not a query param)
    budgets = client_budget(
        protocol.budget_rule, len(data.train_labels), [len(pool) for pool in data.pools], protocol.query_ratio
    )
    trains_with = {"entry": strategy.trains_with, "options": strategy.options} if strategy.trains_with else None
    extension = load_extension(trains_with)

    def make_model(init_seed: int) -> nn.Module:  # the protocol's backbone, with the module it trains with it
        return build_cycle_model(protocol.model, spec, init_seed, device, extension)

    global_model = make_model(0)
    global_model.load_state_dict(global_state)
    global_model.eval()
    local_models, init_state = _local_models(inputs, data, strategy, make_model, global_state, client_states, log)

    def fresh_local_model() -> nn.Module:
        model = make_model(derive_seed(seed, "local_init", cycle))
        model.load_state_dict(init_state)
        return model

    pools = _client_pools(inputs, data, budgets, log)
    step = QueryStep(
        cycle=cycle,
        num_classes=spec.num_classes,
        pools=pools,
        global_model=global_model,
        local_models=local_models,
        query_bank=data.query_bank,
        seed_keys=(seed, strategy.name, cycle),
        fidelity=inputs.fidelity,
        state=dict(previous_state or {}),
        batch_size=compute.inference_batch_size,
        client_test=ClientTestSplits(data.test_bank, data.test_labels, data.client_tests),
        train_bank=data.train_bank,
        fresh_local_model=fresh_local_model,
        new_model=make_model,
        protocol=protocol,
        multi_label=spec.multi_label,
    )
    per_client = sorted(set(budgets))
    log.info(
        "cycle %d → %d: querying %s per client with %s (method %s, query model %s, local model %s) on %s seed %d",
        cycle,
        cycle + 1,
        per_client[0] if len(per_client) == 1 else list(budgets),
        strategy.name,
        strategy.method,
        strategy.query_model or "-",
        strategy.local_model_kind or "-",
        setting.id,
        seed,
    )
    outcome = load_query_function(strategy)(step, strategy)
    check_outcome(outcome, pools, strategy.name)
    diagnostics = _diagnostics(outcome, pools, data, local_models, log)
    new_labelled = extend_labelled(inputs.labelled, outcome.selected, cycle + 1, setting.num_clients)
    return QueryStageOutputs(labelled=new_labelled, diagnostics=diagnostics, state=outcome.state)
