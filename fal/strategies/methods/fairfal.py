"""FairFAL (reference-spec §6.13; paper §5).

Per query step:
A. For every client: train the local-only model L_k; on a class-balanced resampling B_k of its
   labelled set, average the softmax of G and of L_k (π̂_g, π̂_ℓ); the discrepancy
   d_k = mean_c |π̂_g,c − π̂_ℓ,c| / (π̂_g,c + π̂_ℓ,c) and the imbalance γ_k = min/max of π̂_g over the
   client's labelled classes. γ̄ = mean_k γ_k, fixed at the first query step (kept in the step's
   state file) in the official code.
B. For each client: s_k = 1 − (1−t)(d_k + γ̄) + (1−2t)·d_k·γ̄ (= 1 − (d_k + γ̄)/2 at t = ½). The
   uncertainty model M1 is G if s_k > δ else L_k; the gradient-embedding probability model M2 is G
   if γ̄ < ½ else L_k (official; the paper always uses G). Unlabelled samples get a pseudo-label
   from cosine similarity of G's features to per-class prototypes of G's labelled features; the
   budget is split into per-class quotas over all C classes (capped by bucket sizes, leftovers
   round-robin); per class, the κ·q_c most uncertain candidates are reduced to q_c by k-center in
   gradient-embedding space, seeded with that class's labelled samples as centres.

Options (registry.py) switch off or swap components for P-FF Table 2's ablation columns:
``selector_model`` (M^(k) or its complement M̃^(k) as M1), ``sampling`` (``uncertainty``: plain top-b
with M1; ``class_wise``: per-class quotas filled with the most uncertain bucket members; ``two_stage``:
the full method), ``prototype_features`` (G's or L_k's features for prototypes and pseudo-labels),
``kappa``; and the official code's undocumented rules: ``quota_classes`` (quotas over all C classes or
over C_k⁺) and ``embedding_label`` (the unlabelled gradient embedding's label: M2's argmax or the
prototype pseudo-label).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.federated.training import evaluate
from fal.strategies.base import ClientPool, QueryOutcome, QueryStep
from fal.strategies.inference import forward
from fal.strategies.kcenter import kcenter_greedy

METHOD = MethodInfo(
    name="fairfal",
    label="FairFAL",
    summary="adaptive G/L model selection (γ̄ kept as a file), prototype pseudo-labels, class-wise quotas, κ-oversampled uncertainty pools, k-center in gradient-embedding space",
    spec="§6.13",
    selector="G, L",
    local_model="scratch",
    reads=("fidelity.fairfal_m2_model", "fidelity.fairfal_prototype_similarity", "fidelity.fairfal_gamma_bar"),
    options=(
        Option(
            "delta", 0.75, "model-selection threshold δ on s_k (hard-coded in the official code)", minimum=0, maximum=1
        ),
        Option("kappa", 4.0, "candidate oversampling κ of the two-stage sampler", minimum=1),
        Option("temperature", 1.5, "prototype softmax temperature (does not change the argmax)", above=0),
        Option("t", 0.5, "score mixing weight; 0.5 gives Eq. 6", minimum=0, maximum=1),
        Option(
            "uncertainty",
            "entropy",
            "uncertainty measure (Table 7)",
            choices=("entropy", "margin", "least_confidence"),
        ),
        # Table 2's ablation columns (defaults = the full method, the κ = 4 column)
        Option(
            "selector_model",
            "chosen",
            "chosen = M^(k), complementary = M̃^(k), the model s_k rejects (Table 2)",
            choices=("chosen", "complementary"),
        ),
        Option(
            "sampling",
            "two_stage",
            "two_stage, class_wise (top uncertainty per class) or uncertainty (plain top-b) (Table 2)",
            choices=("two_stage", "class_wise", "uncertainty"),
        ),
        Option(
            "prototype_features",
            "global",
            "whose features build the prototypes and pseudo-labels (Table 2)",
            choices=("global", "local"),
        ),
        # undocumented rules of the official code (reference-spec §6.13, §11), official behaviour by default
        Option(
            "quota_classes",
            "all",
            "quotas over all C classes (official code) or over the labelled classes C_k⁺ (paper)",
            choices=("all", "present"),
        ),
        Option(
            "embedding_label",
            "prediction",
            "label of unlabelled gradient embeddings: M2's argmax (official code) or the prototype pseudo-label",
            choices=("prediction", "prototype"),
        ),
    ),
)


# ------------------------------------------------------------------------------------------------
# Phase A: model-selection statistics


def balanced_multiset(labels: np.ndarray, seed: int = 42) -> np.ndarray:
    """Indices into ``labels`` forming a class-balanced multiset (FF:strategy.py:make_balanced_indices).

    Every present class is brought to the largest class count: the largest classes by a random
    permutation, the others by all their samples plus draws with replacement. A fresh
    ``default_rng(42)`` is used on every call, so the result is deterministic.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) == 0:
        return np.empty(0, dtype=np.int64)
    target = counts.max()
    parts = []
    for cls, count in zip(classes, counts):
        members = np.where(labels == cls)[0]
        need = target - count
        if need <= 0:
            parts.append(rng.choice(members, size=target, replace=False))
        else:
            parts.append(np.concatenate([members, rng.choice(members, size=need, replace=True)]))
    out = np.concatenate(parts)
    rng.shuffle(out)
    return out.astype(np.int64)


def discrepancy(global_mean: np.ndarray, local_mean: np.ndarray) -> float:
    """d_k = (1/C) Σ_c |g_c − l_c| / (g_c + l_c) (Eq. 5), with 0/0 taken as 0."""
    g = np.asarray(global_mean, dtype=np.float32)
    loc = np.asarray(local_mean, dtype=np.float32)
    mean = np.float32(0.5) * g + np.float32(0.5) * loc
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(mean > 0, np.abs(g - loc) / mean, np.float32(0.0))
    return float(np.float32(0.5) * ratio.mean(dtype=np.float32))


def imbalance_ratio(global_mean: np.ndarray, present_classes: np.ndarray) -> float:
    """γ_k = min over the client's labelled classes of π̂_g divided by their max (Eq. 4)."""
    values = np.asarray(global_mean, dtype=np.float32)[np.asarray(present_classes, dtype=np.int64)]
    return float(values.min() / values.max())


def selection_score(d: float, gamma_bar: float, t: float) -> float:
    """s_k = 1 − (1 − t)(d + γ̄) + (1 − 2t)·d·γ̄; Eq. 6 at t = ½."""
    return 1.0 - (1.0 - t) * (d + gamma_bar) + (1.0 - 2.0 * t) * (d * gamma_bar)


# ------------------------------------------------------------------------------------------------
# Phase B: class-fair two-stage sampling


def uncertainty(probs: torch.Tensor, kind: str, num_classes: int) -> np.ndarray:
    """Per-sample uncertainty; entropy is normalised by log C (rank-neutral), as in the code."""
    if kind == "entropy":
        h = -(probs * (probs + 1e-12).log()).sum(dim=1)
        return (h / math.log(num_classes)).cpu().numpy()
    top2 = probs.topk(min(2, probs.shape[1]), dim=1).values
    if kind == "margin":
        return (1.0 - (top2[:, 0] - top2[:, 1])).cpu().numpy()
    if kind == "least_confidence":
        return (1.0 - top2[:, 0]).cpu().numpy()
    raise ValueError(f"unknown uncertainty {kind!r}")


def class_prototypes(features: torch.Tensor, labels: np.ndarray, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of L2-normalised features per true class; absent classes get a zero prototype."""
    normed = F.normalize(features, dim=1)
    y = torch.tensor(np.asarray(labels), dtype=torch.long, device=features.device)
    sums = torch.zeros(num_classes, features.shape[1], device=features.device, dtype=features.dtype)
    counts = torch.zeros(num_classes, device=features.device, dtype=features.dtype)
    sums.index_add_(0, y, normed)
    counts.index_add_(0, y, torch.ones_like(y, dtype=features.dtype))
    present = counts > 0
    sums[present] = sums[present] / counts[present].unsqueeze(1)
    return sums, counts


def prototype_pseudo_labels(
    features: torch.Tensor, prototypes: torch.Tensor, counts: torch.Tensor, temperature: float, similarity: str
) -> np.ndarray:
    """argmax over labelled classes of the similarity of each (normalised) feature to the prototypes.

    ``cosine`` renormalises non-zero prototypes to unit length (the code); ``inner`` uses the mean of
    unit vectors as is (the paper's Eq. 10).
    """
    z = F.normalize(features, p=2, dim=1, eps=1e-12)
    protos = prototypes
    if similarity == "cosine":
        norms = protos.norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            nonzero = norms > 0
            protos = protos.clone()
            protos[nonzero] = F.normalize(protos[nonzero], dim=1)
    sim = z @ protos.t()
    sim = torch.where((counts > 0).view(1, -1), sim, torch.full_like(sim, torch.finfo(sim.dtype).min))
    return torch.softmax(sim / temperature, dim=1).argmax(dim=1).cpu().numpy()


def gradient_embedding(features: torch.Tensor, probs: torch.Tensor, targets: np.ndarray) -> np.ndarray:
    """BADGE-style embedding: block c = z · (1[c = target] − p_c), flattened to (n, C·D), float32."""
    onehot = F.one_hot(torch.tensor(np.asarray(targets), dtype=torch.long, device=probs.device), probs.shape[1]).to(
        probs.dtype
    )
    emb = (onehot - probs).unsqueeze(2) * features.unsqueeze(1)
    return emb.reshape(features.shape[0], -1).cpu().numpy().astype(np.float32, copy=False)


def class_quotas(bucket_sizes: list[int], n: int) -> list[int]:
    """Split ``n`` picks over all C classes (§6.13 step 8).

    Every class gets ⌊n/C⌋, the n mod C largest buckets one more; quotas are capped at bucket sizes and
    the excess goes round-robin, one at a time, to the classes (largest bucket first) that still had
    room when redistribution began.
    """
    num_classes = len(bucket_sizes)
    base, rem = divmod(n, num_classes)
    quota = [base] * num_classes
    order = sorted(range(num_classes), key=lambda c: bucket_sizes[c], reverse=True)
    for c in order[:rem]:
        quota[c] += 1
    leftover = 0
    for c in range(num_classes):
        if quota[c] > bucket_sizes[c]:
            leftover += quota[c] - bucket_sizes[c]
            quota[c] = bucket_sizes[c]
    can_grow = [c for c in order if bucket_sizes[c] > quota[c]]
    turn = 0
    while leftover > 0 and can_grow:
        c = can_grow[turn % len(can_grow)]
        if quota[c] < bucket_sizes[c]:
            quota[c] += 1
            leftover -= 1
        turn += 1
    return quota


def present_class_quotas(bucket_sizes: list[int], n: int, present: np.ndarray) -> list[int]:
    """``class_quotas`` over the labelled classes C_k⁺ only (option ``quota_classes: present``): the
    paper's "uniformly allocated" budget over the classes that can have buckets; others get 0."""
    present = np.asarray(sorted(set(np.asarray(present).tolist())), dtype=np.int64)
    quotas = [0] * len(bucket_sizes)
    if present.size == 0:
        return quotas
    for c, q in zip(present, class_quotas([bucket_sizes[c] for c in present], n)):
        quotas[int(c)] = q
    return quotas


def class_wise_select(pseudo: np.ndarray, scores: np.ndarray, quotas: list[int]) -> np.ndarray:
    """One-stage class-wise sampling (Table 2's "Local"/"Global" columns): per class, the q_c most
    uncertain bucket members, no k-center. Sorted indices into the unlabelled pool."""
    chosen = []
    for c, q in enumerate(quotas):
        members = np.flatnonzero(pseudo == c)
        if q <= 0 or members.size == 0:
            continue
        chosen.append(members[np.argsort(-scores[members], kind="stable")[:q]])
    if not chosen:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(chosen))


def top_uncertain(scores: np.ndarray, n: int) -> np.ndarray:
    """Plain top-n uncertainty sampling (Table 2's M^(k) / M̃^(k) columns), sorted pool indices."""
    return np.sort(np.argsort(-scores, kind="stable")[:n])


def two_stage_select(
    pseudo: np.ndarray,
    scores: np.ndarray,
    embeddings: np.ndarray,
    anchor_embeddings: np.ndarray,
    anchor_labels: np.ndarray,
    quotas: list[int],
    kappa: float,
) -> np.ndarray:
    """Per class: the ⌊κ·q_c⌋ most uncertain bucket members, reduced to q_c by anchored k-center.

    Returns sorted indices into the unlabelled pool.
    """
    chosen = []
    for c, q in enumerate(quotas):
        members = np.flatnonzero(pseudo == c)
        if q <= 0 or members.size == 0:
            continue
        m = int(min(members.size, max(1, int(np.floor(kappa * q)))))
        candidates = members[np.argsort(-scores[members])[:m]]
        anchors = anchor_embeddings[anchor_labels == c]
        if anchors.shape[0] > 0:
            picks = kcenter_greedy(embeddings[candidates], q, anchors=anchors)
        else:  # never happens with prototype buckets (they exist only for labelled classes)
            picks = kcenter_greedy(embeddings[candidates], q, first=0)
        chosen.append(candidates[picks])
    if not chosen:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(chosen))


# ------------------------------------------------------------------------------------------------


class _ClientOutputs:
    """One forward pass of a model over a client's labelled and unlabelled samples, reused by every
    statistic below (eval-mode outputs are per-sample, so reuse changes nothing)."""

    def __init__(self, model: nn.Module, step: QueryStep, pool: ClientPool) -> None:
        positions = np.concatenate([pool.labelled, pool.unlabelled])
        logits, features = forward(model, step.query_bank, positions, step.batch_size)
        n = len(pool.labelled)
        self.probs_l = torch.softmax(logits[:n], dim=1)
        self.probs_u = torch.softmax(logits[n:], dim=1)
        self.feat_l, self.feat_u = features[:n], features[n:]

    def balanced_mean_probs(self, labels: np.ndarray) -> np.ndarray:
        """Mean softmax over the class-balanced multiset B_k (duplicates weigh as in the code)."""
        multiset = torch.as_tensor(balanced_multiset(labels), device=self.probs_l.device)
        return self.probs_l[multiset].mean(dim=0).cpu().numpy()


def uncertainty_model_is_global(s: float, delta: float, selector_model: str) -> bool:
    """M1 = G iff s_k > δ (Eq. 7); ``complementary`` takes the other model (Table 2's M̃^(k))."""
    chosen_global = s > delta
    return chosen_global if selector_model == "chosen" else not chosen_global


def unlabelled_embedding(g_out: Any, m2_out: Any, pseudo: np.ndarray, embedding_label: str) -> np.ndarray:
    """Gradient embeddings of the unlabelled pool: G's features, M2's probabilities, and as label M2's
    argmax (the code) or the prototype pseudo-label."""
    target = m2_out.probs_u.argmax(dim=1).cpu().numpy() if embedding_label == "prediction" else pseudo
    return gradient_embedding(g_out.feat_u, m2_out.probs_u, target)


def client_picks(
    g_out: Any,
    l_out: Any,
    labelled_labels: np.ndarray,
    n: int,
    num_classes: int,
    options: dict,
    m1_global: bool,
    m2_global: bool,
    similarity: str,
) -> tuple[np.ndarray, list[int] | None, list[int] | None]:
    """Phase B for one client from G's and L_k's outputs: (sorted pool indices, quotas, bucket sizes).

    ``g_out``/``l_out`` carry ``probs_l``, ``probs_u``, ``feat_l``, ``feat_u`` (labelled/unlabelled
    softmax and penultimate features). Quotas and buckets are None for ``sampling: uncertainty``.
    """
    m1_out = g_out if m1_global else l_out
    m2_out = g_out if m2_global else l_out
    u = uncertainty(m1_out.probs_u, options["uncertainty"], num_classes)
    if options["sampling"] == "uncertainty":  # Table 2, M^(k) / M̃^(k): no class-wise step
        return top_uncertain(u, n), None, None
    proto_out = g_out if options["prototype_features"] == "global" else l_out
    prototypes, counts = class_prototypes(proto_out.feat_l, labelled_labels, num_classes)
    pseudo = prototype_pseudo_labels(proto_out.feat_u, prototypes, counts, float(options["temperature"]), similarity)
    buckets = np.bincount(pseudo, minlength=num_classes).tolist()
    if options["quota_classes"] == "all":
        quotas = class_quotas(buckets, n)
    else:
        quotas = present_class_quotas(buckets, n, labelled_labels)
    if options["sampling"] == "class_wise":  # Table 2, Local / Global prototypes: one stage
        return class_wise_select(pseudo, u, quotas), quotas, buckets
    emb_u = unlabelled_embedding(g_out, m2_out, pseudo, options["embedding_label"])
    emb_l = gradient_embedding(g_out.feat_l, m2_out.probs_l, labelled_labels)
    picks = two_stage_select(pseudo, u, emb_u, emb_l, np.asarray(labelled_labels), quotas, float(options["kappa"]))
    return picks, quotas, buckets


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    fidelity = step.fidelity
    num_classes = step.num_classes
    g_model = step.global_model
    diagnostics: list[dict] = []

    # Phase A, all clients before any query.
    d, gamma, outputs = {}, {}, {}
    for pool in step.pools:
        g_out = _ClientOutputs(g_model, step, pool)
        l_out = _ClientOutputs(step.local_models.get(pool), step, pool)
        outputs[pool.client] = (g_out, l_out)
        pi_g = g_out.balanced_mean_probs(pool.labelled_labels)
        pi_l = l_out.balanced_mean_probs(pool.labelled_labels)
        d[pool.client] = discrepancy(pi_g, pi_l)
        gamma[pool.client] = imbalance_ratio(pi_g, np.unique(pool.labelled_labels))

    state = dict(step.state)
    if fidelity.fairfal_gamma_bar == "first_query" and "gamma_bar" in state:
        gamma_bar = float(state["gamma_bar"])
    else:
        gamma_bar = float(np.mean([gamma[p.client] for p in step.pools]))
        state["gamma_bar"] = gamma_bar
        state["gamma_bar_cycle"] = step.cycle
    m2_global = fidelity.fairfal_m2_model == "paper" or gamma_bar < 0.5

    selected = {}
    for pool in step.pools:
        local = step.local_models.get(pool)
        s = selection_score(d[pool.client], gamma_bar, float(options["t"]))
        chosen_global = s > float(options["delta"])  # Eq. 7: M^(k)
        m1_global = uncertainty_model_is_global(s, float(options["delta"]), options["selector_model"])
        g_out, l_out = outputs[pool.client]

        n = min(pool.budget, len(pool.unlabelled))
        row = {"client": pool.client}
        picks, quotas, buckets = client_picks(
            g_out,
            l_out,
            pool.labelled_labels,
            n,
            num_classes,
            options,
            m1_global,
            m2_global,
            fidelity.fairfal_prototype_similarity,
        )
        selected[pool.client] = pool.unlabelled[picks]

        diagnostics += [
            {**row, "metric": "fairfal_s", "value": s},
            {**row, "metric": "fairfal_d", "value": d[pool.client]},
            {**row, "metric": "fairfal_gamma", "value": gamma[pool.client]},
            {**row, "metric": "fairfal_gamma_bar", "value": gamma_bar},
            {**row, "metric": "fairfal_chosen_global", "value": float(chosen_global)},
            {**row, "metric": "fairfal_m1_global", "value": float(m1_global)},
            {**row, "metric": "fairfal_m2_global", "value": float(m2_global)},
        ]
        if quotas is not None and buckets is not None:
            diagnostics += [
                {**row, "class": c, "metric": "fairfal_quota", "value": float(q)} for c, q in enumerate(quotas)
            ]
            diagnostics += [
                {**row, "class": c, "metric": "fairfal_bucket", "value": float(b)} for c, b in enumerate(buckets)
            ]
        if step.client_test is not None:
            positions = step.client_test.positions[pool.client]
            if len(positions):
                split = step.client_test
                sub_bank = _SubBank(split.bank, positions)
                labels = split.labels[positions]
                for name, model in (("client_test_acc_global", g_model), ("client_test_acc_local", local)):
                    acc = evaluate(model, sub_bank, labels, num_classes, step.batch_size).accuracy
                    diagnostics.append({**row, "metric": name, "value": acc})
    return QueryOutcome(selected=selected, diagnostics=diagnostics, state=state)


class _SubBank:
    """A view of some positions of an ImageBank, for evaluating on a client's test split."""

    def __init__(self, bank: Any, positions: np.ndarray) -> None:
        self._bank = bank
        self._positions = torch.tensor(np.asarray(positions, dtype=np.int64), device=bank.device)
        self.device = bank.device

    def __len__(self) -> int:
        return len(self._positions)

    def batch(self, index: torch.Tensor, flip: Any = None, offsets: Any = None) -> torch.Tensor:
        return self._bank.batch(self._positions[index.to(self.device)], flip, offsets)
