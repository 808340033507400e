"""Learning loss for active learning (LL4AL; Yoo & Kweon 2019), the KAFAL paper's baseline (its §4.1:
"we train a loss prediction module for each client model"; the KAFAL code does not include it).

The method's options configure a loss-prediction module that trains jointly with the model in every
cycle, cycle 1 included (fal.federated.loss_prediction; the strategy's cycles are its own, not the
shared FedAvg cycle 1). The query takes, per client, the b unlabelled samples with the largest
predicted loss under the query model: the global model (G) or the client's model after its local
training in the cycle's last round (L: ``last_round`` is the default and the only local model kind,
as in the KAFAL paper), each with the loss module it trained. Exact ties go to pool order.
"""

from __future__ import annotations

import numpy as np

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.federated.loss_prediction import predicted_losses
from fal.strategies.base import QueryOutcome, QueryStep

METHOD = MethodInfo(
    name="ll4al",
    label="LL4AL",
    summary="learning loss: a loss-prediction module trained with the model in every cycle; the b largest predicted losses",
    spec="P-KA §4.1",
    query_models=("global", "local"),
    trains_with="fal.federated.loss_prediction:LossPredictionConfig",
    options=(
        Option("weight", 1.0, "λ of the loss-prediction term in the joint loss (Yoo & Kweon: 1)", minimum=0),
        Option("margin", 1.0, "ξ of the margin ranking loss (Yoo & Kweon: 1)", minimum=0),
        Option("width", 128, "hidden units per tapped feature map (Yoo & Kweon: 128)", minimum=1, integer=True),
        Option(
            "detach_after",
            0.6,
            "fraction of a cycle's rounds after which the module's gradient stops at the feature maps "
            "(Yoo & Kweon: epoch 120 of 200; 1 = never)",
            minimum=0,
            maximum=1,
        ),
        Option(
            "module_scope",
            "federated",
            "federated: the module is averaged with the rest of the model; client: each client keeps its own "
            "module across a cycle's rounds (the other reading of the KAFAL paper's 'for each client model')",
            choices=("federated", "client"),
        ),
    ),
)


def top_predicted_loss(predicted: np.ndarray, budget: int) -> np.ndarray:
    """Indices of the ``budget`` largest predicted losses, ties in pool order."""
    return np.argsort(-predicted, kind="stable")[:budget]


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    selected, diagnostics = {}, []
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        predicted = predicted_losses(model, step.query_bank, pool.unlabelled, step.batch_size).cpu().numpy()
        chosen = top_predicted_loss(predicted, pool.budget)
        selected[pool.client] = pool.unlabelled[chosen]
        if len(chosen):
            diagnostics.append(
                {"client": pool.client, "metric": "ll4al_mean_predicted_loss", "value": float(predicted[chosen].mean())}
            )
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
