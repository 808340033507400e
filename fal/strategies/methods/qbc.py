"""Query by committee (QBC, Dagan & Engelson 1995), as the KAFAL paper's baseline (its §4.1: "we use 3
models on each client for QBC"; the KAFAL code does not include it).

Committee of client k: its query model (G or L, the strategy's ``query_model``) plus ``committee_size`` −
1 local-only models trained at query time on the client's labelled set (§5.1's training), each from its
own random init, so the members disagree where the labelled data leave the decision open. Score per
unlabelled sample:
- ``vote_entropy`` (default): −Σ_c (V_c/M)·log(V_c/M), V_c = members whose argmax is c, M members;
- ``kl_to_mean``: mean over members of KL(p_m ‖ p̄), p̄ the members' mean softmax (consensus KL).
The b highest scores are queried. Vote entropy takes few distinct values, so ties go to the higher
entropy of the consensus p̄, then to pool order.
"""

from __future__ import annotations

import numpy as np
import torch

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.federated.local import LocalTrainingConfig, train_local_only
from fal.seeding import derive_seed, torch_generator
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import probabilities

METHOD = MethodInfo(
    name="qbc",
    label="QBC",
    summary="query by committee: the query model and two local-only models; vote entropy, or mean KL to the consensus",
    spec="P-KA §4.1",
    query_models=("global", "local"),
    options=(
        Option(
            "committee_size",
            3,
            "members per client: the query model plus committee_size - 1 local-only models (the KAFAL paper: 3)",
            minimum=2,
            integer=True,
        ),
        Option(
            "disagreement",
            "vote_entropy",
            "vote_entropy (Dagan & Engelson) or kl_to_mean (mean KL of each member to the consensus)",
            choices=("vote_entropy", "kl_to_mean"),
        ),
    ),
)


def vote_entropy(votes: np.ndarray, num_classes: int) -> np.ndarray:
    """``votes``: (N, M) class votes of M members → (N,) entropy of the vote shares (natural log)."""
    shares = np.stack([(votes == c).mean(axis=1) for c in range(num_classes)], axis=1)
    logs = np.where(shares > 0, np.log(np.where(shares > 0, shares, 1.0)), 0.0)
    return -(shares * logs).sum(axis=1)


def kl_to_mean(probs: torch.Tensor) -> torch.Tensor:
    """``probs``: (M, N, C) member softmaxes → (N,) mean over members of KL(p_m ‖ p̄)."""
    mean = probs.mean(dim=0, keepdim=True)
    terms = torch.where(probs > 0, probs * (probs.log() - mean.log()), torch.zeros_like(probs))
    return terms.sum(dim=2).mean(dim=0)


def consensus_entropy(probs: torch.Tensor) -> torch.Tensor:
    mean = probs.mean(dim=0)
    return -torch.where(mean > 0, mean * mean.log(), torch.zeros_like(mean)).sum(dim=1)


def rank(primary: np.ndarray, tie_break: np.ndarray, budget: int) -> np.ndarray:
    """Indices of the ``budget`` largest ``primary`` scores, ties to larger ``tie_break``, then pool order."""
    order = np.lexsort((np.arange(len(primary)), -tie_break, -primary))
    return order[:budget]


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    local_cfg = LocalTrainingConfig.from_protocol(step.protocol, step.fidelity)
    if step.new_model is None:
        raise ValueError("QBC builds committee members from the protocol's backbone: the query step has no new_model")
    new_model = step.new_model
    selected, diagnostics = {}, []
    for pool in step.pools:
        members = [step.query_model(strategy.query_model, pool)]
        for i in range(1, int(options["committee_size"])):
            member = new_model(derive_seed(*step.seed_keys, "qbc_init", pool.client, i))
            info = train_local_only(
                member,
                pool.labelled,
                pool.labelled_labels,
                step.train_bank,
                local_cfg,
                torch_generator(*step.seed_keys, "qbc_train", pool.client, i),
                where=f"QBC member {i} of client {pool.client}",
            )
            member.eval()
            members.append(member)
            diagnostics.append(
                {"client": pool.client, "metric": "qbc_member_train_acc", "value": 100 * info.train_accuracy}
            )
        probs = torch.stack([probabilities(m, step.query_bank, pool.unlabelled, step.batch_size) for m in members])
        tie_break = consensus_entropy(probs).cpu().numpy()
        if options["disagreement"] == "vote_entropy":
            primary = vote_entropy(probs.argmax(dim=2).T.cpu().numpy(), step.num_classes)
        else:
            primary = kl_to_mean(probs).cpu().numpy()
        selected[pool.client] = pool.unlabelled[rank(primary, tie_break, pool.budget)]
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
