"""ALFA-Mix (reference-spec §6.8), closed-form approximation, with the G or L model.

A sample is a candidate when mixing its embedding z with a labelled class anchor (the mean labelled
embedding of a class) changes the classifier's prediction. The per-dimension mixing weight is the
closed form α = (ε·‖anchor − z‖/‖g‖)·g / (anchor − z + 1e−8), with g the gradient of the mean
cross-entropy of head(z) against ŷ with respect to z and ε = cap/√D; caps grow by ``alpha_cap``
(0.2, 0.4, …, 1.0) until more than b candidates are found. The candidates' L2-normalised embeddings
are clustered by k-means (k = min(b, #candidates)) and the member nearest each centre is queried.

Faithful quirks (§11.12): the classifier head is always the global model's (``classifier_head:
global``), even when the embeddings and ŷ come from the local model; ``query_model`` uses the query
model's own head. Deviation: a short selection is topped up uniformly *without* replacement from the
remaining pool (the official top-up draws with replacement and can return duplicates).
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.seeding import numpy_rng
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward
from fal.strategies.kmeans import kmeans, nearest_to_centres

METHOD = MethodInfo(
    name="alfamix",
    label="ALFA-Mix",
    summary="closed-form feature mixing with labelled class anchors; candidates whose prediction flips, clustered by k-means, nearest to each centre",
    spec="§6.8",
    query_models=("global", "local"),
    options=(
        Option("alpha_cap", 0.2, "step of the ε cap schedule 0.2, 0.4, …, 1.0", above=0, maximum=1),
        Option(
            "classifier_head",
            "global",
            "whose classifier head scores the mixes: global (official, even in L mode) or the query model's",
            choices=("global", "query_model"),
        ),
        Option("kmeans_n_init", 10, "k-means restarts (scikit-learn 1.0.1 default)", minimum=1, integer=True),
        Option("kmeans_max_iter", 300, "k-means iterations per restart", minimum=1, integer=True),
        Option("kmeans_tol", 1.0e-4, "k-means relative tolerance", minimum=0),
    ),
)


def caps(step_size: float) -> list[float]:
    """The cap sequence of the official loop (add ``step_size`` while below 1), float drift included."""
    out, cap = [], 0.0
    while cap < 1.0:
        cap += step_size
        out.append(cap)
    return out


def closed_form_alpha(eps: float, anchor: torch.Tensor, z: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    diff = anchor - z
    scale = eps * diff.norm(dim=1) / grads.norm(dim=1)
    return scale[:, None] * grads / (diff + 1e-8)


def class_anchors(z_l: torch.Tensor, y_l: np.ndarray, num_classes: int) -> torch.Tensor:
    """Mean labelled embedding per class; the mean of all labelled embeddings for absent classes."""
    y = torch.as_tensor(np.asarray(y_l), dtype=torch.long, device=z_l.device)
    anchors = z_l.mean(0, keepdim=True).repeat(num_classes, 1)
    for c in torch.unique(y).tolist():
        anchors[c] = z_l[y == c].mean(0)
    return anchors


def find_candidates(
    head: torch.nn.Module,
    z_u: torch.Tensor,
    pred: torch.Tensor,
    z_l: torch.Tensor,
    y_l: np.ndarray,
    num_classes: int,
    budget: int,
    alpha_cap: float,
) -> torch.Tensor:
    """Boolean mask of unlabelled samples for which some anchor mix makes ``head`` predict other than ``pred``.

    ``pred`` is the query model's prediction; ``head`` may be another model's (the faithful quirk).
    """
    with torch.enable_grad():
        z = z_u.detach().clone().requires_grad_(True)
        grads = torch.autograd.grad(F.cross_entropy(head(z), pred), z)[0]
    anchors = class_anchors(z_l, y_l, num_classes)
    candidate = torch.zeros(z_u.shape[0], dtype=torch.bool, device=z_u.device)
    dim = z_u.shape[1]
    with torch.no_grad():
        for cap in caps(alpha_cap):
            eps = cap / math.sqrt(dim)
            for c in range(num_classes):
                alpha = closed_form_alpha(eps, anchors[c : c + 1], z_u, grads)
                mix = (1 - alpha) * z_u + alpha * anchors[c : c + 1]
                candidate |= head(mix).argmax(1) != pred
            if int(candidate.sum()) > budget:
                break
    return candidate


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    selected, diagnostics = {}, []
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        head = cast(nn.Module, step.global_model.linear if options["classifier_head"] == "global" else model.linear)
        logits, features = forward(
            model, step.query_bank, np.concatenate([pool.unlabelled, pool.labelled]), step.batch_size
        )
        n = len(pool.unlabelled)
        z_u, z_l = features[:n], features[n:]
        pred = logits[:n].argmax(1)  # ŷ always comes from the query model itself
        candidate = find_candidates(
            head, z_u, pred, z_l, pool.labelled_labels, step.num_classes, pool.budget, float(options["alpha_cap"])
        )
        cand_idx = torch.nonzero(candidate).flatten().cpu().numpy()
        picks = np.empty(0, dtype=np.int64)
        rng = numpy_rng(*step.seed_keys, "alfamix", pool.client)
        if cand_idx.size:
            feats = F.normalize(z_u[torch.as_tensor(cand_idx, device=z_u.device)], p=2, dim=1)
            k = min(pool.budget, cand_idx.size)
            result = kmeans(
                feats,
                k,
                rng,
                int(options["kmeans_n_init"]),
                int(options["kmeans_max_iter"]),
                float(options["kmeans_tol"]),
            )
            picks = cand_idx[nearest_to_centres(feats, result)]
        if picks.size < min(pool.budget, n):
            rest = np.setdiff1d(np.arange(n), picks)
            picks = np.concatenate([picks, rng.choice(rest, size=min(pool.budget, n) - picks.size, replace=False)])
        selected[pool.client] = pool.unlabelled[picks]
        diagnostics.append({"client": pool.client, "metric": "alfamix_candidates", "value": float(cand_idx.size)})
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
