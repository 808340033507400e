"""KSAS, KAFAL's Knowledge-Specialized Active Sampling (reference-spec §7.1-§7.3; KAFAL paper §3.2).

For client i with labelled class counts n_{i,c}, both the local model's and the global model's logits
get λ·log n_{i,c} before the softmax (P and Q, paper Eqs. 1-2), and the score is the symmetric KL
divergence D = KL(P‖Q) + KL(Q‖P) (Eq. 3). The b unlabelled samples with the largest D are queried.

- Classes the client does not hold (n = 0) are left out: n^λ = 0 removes them from Eq. 1-2 for λ > 0,
  and it is what the official code means (§7.2: −∞ logits; newer PyTorch gives NaN there). With λ = 0
  (the paper's "vanilla KL" ablation) n^0 = 1 keeps every class; λ = −1 is the paper's "reversed KSAS".
- The official code scores 0.5·D; the factor does not change the ranking and is not applied.
- The local model is the strategy's local model kind, by default the last-round client model (§5.3,
  the IFAL repo's port; KAFAL's own code uses the same client model, §5.5).
- Ties: the pool is shuffled with the client's generator first (the official code shuffles with
  Python's ``random``), then sorted stably by descending D.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.federated.sgd import bernoulli_kl_terms
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward

KSAS_MULTILABEL_PRIORS = ("log_odds", "softmax")
"""How KSAS specialises sigmoid outputs (multi-label data; fal.strategies.multilabel explains both)."""

METHOD = MethodInfo(
    name="ksas",
    label="KAFAL",
    summary="KAFAL's KSAS: symmetric KL between local and global predictions, both shifted by λ·log n_{k,c}; top b",
    spec="§7.3",
    selector="G, L",
    local_model="last_round",  # the IFAL repo's port and KAFAL's code both use the last-round client model
    options=(
        Option(
            "lambda",
            1.0,
            "knowledge-specialisation exponent λ on the labelled class counts (-1 = reversed KSAS)",
        ),
        Option(
            "multilabel_prior",
            "log_odds",
            "multi-label data only: λ·log(n+/n-) on each label's sigmoid logit, or the single-label rule on the "
            "label logits with n+ as counts ('softmax'); no paper or official code says",
            choices=("log_odds", "softmax"),
            multi_label_only=True,
        ),
    ),
    multi_label=True,
)


def ksas_scores(
    local_logits: torch.Tensor, global_logits: torch.Tensor, counts: np.ndarray, lam: float
) -> torch.Tensor:
    """Knowledge-specialised symmetric KL divergence per sample (paper Eq. 3)."""
    n = torch.as_tensor(np.asarray(counts), dtype=torch.float64, device=local_logits.device)
    keep = torch.ones_like(n, dtype=torch.bool) if lam == 0 else n > 0
    prior = (
        lam * n[keep].clamp_min(1.0).log()
        if lam != 0
        else torch.zeros(int(keep.sum()), dtype=torch.float64, device=n.device)
    )
    log_p = F.log_softmax(local_logits.to(torch.float64)[:, keep] + prior, dim=1)
    log_q = F.log_softmax(global_logits.to(torch.float64)[:, keep] + prior, dim=1)
    p, q = log_p.exp(), log_q.exp()
    return (p * (log_p - log_q) + q * (log_q - log_p)).sum(dim=1)


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    lam = float(options["lambda"])
    selected, diagnostics = {}, []
    for pool in step.pools:
        local_logits, _ = forward(step.local_models.get(pool), step.query_bank, pool.unlabelled, step.batch_size)
        global_logits, _ = forward(step.global_model, step.query_bank, pool.unlabelled, step.batch_size)
        if step.multi_label:  # labelled_labels: multi-hot rows
            positives = np.asarray(pool.labelled_labels).reshape(-1, step.num_classes).sum(axis=0)
            negatives = len(pool.labelled_labels) - positives
            scores_t = ksas_multilabel_scores(
                local_logits, global_logits, positives, negatives, lam, options["multilabel_prior"]
            )
        else:
            counts = np.bincount(pool.labelled_labels, minlength=step.num_classes)
            scores_t = ksas_scores(local_logits, global_logits, counts, lam)
        scores = scores_t.cpu().numpy()
        shuffled = step.client_rng(pool.client).permutation(len(pool.unlabelled))
        top = shuffled[np.argsort(-scores[shuffled], kind="stable")[: pool.budget]]
        selected[pool.client] = pool.unlabelled[top]
        diagnostics += [
            {"client": pool.client, "metric": "ksas_score_mean", "value": float(scores.mean()) if len(scores) else 0.0},
            {
                "client": pool.client,
                "metric": "ksas_score_selected_mean",
                "value": float(scores[top].mean()) if len(top) else 0.0,
            },
        ]
    return QueryOutcome(selected=selected, diagnostics=diagnostics)


def ksas_multilabel_scores(
    local_logits: torch.Tensor,
    global_logits: torch.Tensor,
    positives: np.ndarray,
    negatives: np.ndarray,
    lam: float,
    prior: str = "log_odds",
) -> torch.Tensor:
    """KSAS's knowledge-specialised symmetric KL per sample for sigmoid outputs (fal.strategies.multilabel).

    ``positives``/``negatives``: the client's labelled images with and without each label."""
    if prior == "softmax":
        return ksas_scores(local_logits, global_logits, positives, lam)
    if prior != "log_odds":
        raise ValueError(f"unknown multi-label KSAS prior {prior!r}; one of {list(KSAS_MULTILABEL_PRIORS)}")
    pos = torch.as_tensor(np.asarray(positives), dtype=torch.float64, device=local_logits.device)
    neg = torch.as_tensor(np.asarray(negatives), dtype=torch.float64, device=local_logits.device)
    keep = torch.ones_like(pos, dtype=torch.bool) if lam == 0 else (pos > 0) & (neg > 0)
    shift = lam * (pos[keep].clamp_min(1.0).log() - neg[keep].clamp_min(1.0).log())
    p = local_logits.to(torch.float64)[:, keep] + shift  # logits of P and Q
    q = global_logits.to(torch.float64)[:, keep] + shift
    return (bernoulli_kl_terms(p, q) + bernoulli_kl_terms(q, p)).sum(dim=1)
