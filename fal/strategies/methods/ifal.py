"""IFAL as its official code does it (reference-spec §7.4), per client with budget b.

Models: G (global), L (the strategy's local model kind, by default the last-round client model §5.3)
and L_kd (the KD local model §5.4, fal.strategies.kd_local).

1. Label arrays lab_M for M ∈ {G, L}: true labels of the labelled set, then M's argmax on the
   unlabelled pool.
2. Reverse-kNN vote distributions rknn(M_feat, labels): with L2-normalised penultimate features,
   S = [F_l; F_u]·F_uᵀ (each unlabelled sample's self-similarity set to −1); every row votes with its
   label for its top-k unlabelled samples (k = 250); V[u, c] = 1 + votes, normalised per row.
   g1 = (G, lab_G), l1 = (L, lab_G), l2 = (L, lab_L), k1 = (L_kd, lab_G).
3. W(a, b) = scipy.stats.wasserstein_distance(a, b) on the two length-C vectors *as samples of
   values* (the official quirk): mean_i |sort(a)_i − sort(b)_i|.
4. U1 = max(D_gl/(D_ll + 1e−5), D_ll/(D_gl + 1e−5))·(D_ll + D_gl) with D_ll = W(l1, k1),
   D_gl = W(g1, k1); U2 = W(l2, softmax_L); U = U1·U2.
5. Candidates U > Otsu(U) (256 bins); k-means with min(b, #candidates) clusters on L's normalised
   features of the candidates; the member nearest each non-empty cluster's centre. If that gives fewer
   than b: the same with U1 (this *replaces* the first selection). If still fewer: the top b by U.

Deviation: the official code needs at least k = 250 unlabelled samples; with fewer, k is lowered to
(unlabelled − 1) and the query diagnostics record the k used. k-means follows scikit-learn 1.0.1's
defaults (k-means++, 10 inits) with the client's generator (fal.strategies.kmeans).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.seeding import derive_seed
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward
from fal.strategies.kd_local import KDConfig, kd_models
from fal.strategies.kmeans import kmeans

METHOD = MethodInfo(
    name="ifal",
    label="IFAL",
    summary="IFAL: reverse-kNN class votes from G, L and a KD model, Wasserstein inconsistency U1·U2, Otsu threshold, k-means representatives",
    spec="§7.4, §5.4",
    selector="G, L",
    local_model="last_round",
    options=(
        Option("rknn_k", 250, "reverse-kNN neighbourhood size", minimum=1, integer=True),
        Option("kd_temperature", 4.0, "KD local model: distillation temperature T", above=0),
        Option("kd_weight", 0.9, "weight of the KD term (CE gets 1 - kd_weight)", minimum=0, maximum=1),
        Option("kd_lr_factor", 0.1, "KD model lr = kd_lr_factor × protocol.lr", above=0),
        Option("kd_epochs", 500, "upper bound on KD epochs", minimum=1, integer=True),
        Option("kd_patience", 5, "early stopping on the epoch's mean training loss", minimum=1, integer=True),
        Option("kmeans_n_init", 10, "k-means restarts (scikit-learn 1.0.1 default)", minimum=1, integer=True),
        Option(
            "kmeans_precision",
            "float32",
            "precision of the k-means and of the distances to the centres: float32 as the official code "
            "(its picks overlap the official ones as much as the official ones overlap across seeds; "
            "benchmarks/ifal_kmeans_precision.py) or float64",
            choices=("float32", "float64"),
        ),
    ),
)


def rknn_distribution(
    feat_labelled: torch.Tensor, feat_unlabelled: torch.Tensor, labels: np.ndarray, num_classes: int, k: int
) -> np.ndarray:
    """Laplace-smoothed reverse-kNN class votes per unlabelled sample, shape (N_u, C)."""
    fl = F.normalize(feat_labelled.to(torch.float64), dim=1)
    fu = F.normalize(feat_unlabelled.to(torch.float64), dim=1)
    n_l, n_u = fl.shape[0], fu.shape[0]
    sim = torch.cat([fl, fu]) @ fu.T
    rows = torch.arange(n_u, device=sim.device)
    sim[n_l + rows, rows] = -1.0
    top = torch.topk(sim, k, dim=1).indices.cpu().numpy()  # (N_l + N_u, k)
    votes = np.ones((n_u, num_classes))
    row_labels = np.repeat(np.asarray(labels, dtype=np.int64), k)
    np.add.at(votes, (top.reshape(-1), row_labels), 1.0)
    return votes / votes.sum(axis=1, keepdims=True)


def wasserstein_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise scipy.stats.wasserstein_distance(a_i, b_i) for equal-length rows of values."""
    return np.abs(np.sort(a, axis=1) - np.sort(b, axis=1)).mean(axis=1)


def otsu_threshold(values: np.ndarray, nbins: int = 256) -> float:
    """skimage.filters.threshold_otsu on a float array: the bin centre maximising between-class variance."""
    values = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = values.min(), values.max()
    if lo == hi:
        return float(lo)
    hist, edges = np.histogram(values, bins=nbins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    hist = hist.astype(np.float64)
    w1 = np.cumsum(hist)
    w2 = np.cumsum(hist[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        m1 = np.cumsum(hist * centres) / w1
        m2 = (np.cumsum((hist * centres)[::-1]) / w2[::-1])[::-1]
    between = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
    return float(centres[:-1][np.nanargmax(between)])


def cluster_representatives(
    features: np.ndarray,
    candidates: np.ndarray,
    k: int,
    rng: np.random.Generator,
    n_init: int,
    precision: str = "float64",
) -> np.ndarray:
    """k-means on the candidates' features; for each non-empty cluster the member nearest its centre,
    computed in ``precision`` ("float32": as scikit-learn does on the official code's float32 features)."""
    dtype = {"float64": np.float64, "float32": np.float32}[precision]
    points = np.asarray(features[candidates], dtype=dtype)
    result = kmeans(points, k, rng, n_init=n_init, dtype=torch.float64 if precision == "float64" else torch.float32)
    chosen = []
    for c in range(k):
        members = np.flatnonzero(result.labels == c)
        if members.size:
            d = ((points[members] - result.centres[c]) ** 2).sum(axis=1)
            chosen.append(int(candidates[members[int(np.argmin(d))]]))
    return np.asarray(chosen, dtype=np.int64)


def ifal_select(
    u1: np.ndarray,
    u2: np.ndarray,
    features: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    n_init: int = 10,
    precision: str = "float64",
) -> tuple[np.ndarray, int]:
    """Pool indices chosen by IFAL's three-stage rule, and the stage (1, 2 or 3) that produced them."""
    u = u1 * u2
    for stage, score in ((1, u), (2, u1)):
        candidates = np.flatnonzero(score > otsu_threshold(score))
        if candidates.size:
            chosen = cluster_representatives(features, candidates, min(budget, candidates.size), rng, n_init, precision)
            if len(chosen) >= budget:
                return chosen[:budget], stage
    return np.argsort(-u, kind="stable")[:budget], 3


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    opts = strategy.resolved_options()
    protocol = step.protocol
    kd = kd_models(
        step.fresh_local_model,
        step.global_model,
        step.train_bank,
        KDConfig(
            lr=float(opts["kd_lr_factor"]) * protocol.lr,
            momentum=protocol.momentum,
            weight_decay=protocol.weight_decay,
            batch_size=protocol.batch_size,
            epochs=int(opts["kd_epochs"]),
            patience=int(opts["kd_patience"]),
            temperature=float(opts["kd_temperature"]),
            weight=float(opts["kd_weight"]),
        ),
        seed_keys=step.seed_keys,
    )
    selected, diagnostics = {}, []
    for pool in step.pools:
        n_u = len(pool.unlabelled)
        k = max(1, min(int(opts["rknn_k"]), n_u - 1))
        outputs = {}
        for name, model in (("G", step.global_model), ("L", step.local_models.get(pool)), ("K", kd.get(pool))):
            _, feat_l = forward(model, step.query_bank, pool.labelled, step.batch_size)
            logits_u, feat_u = forward(model, step.query_bank, pool.unlabelled, step.batch_size)
            outputs[name] = (feat_l, feat_u, logits_u)
        lab = {m: np.concatenate([pool.labelled_labels, outputs[m][2].argmax(dim=1).cpu().numpy()]) for m in ("G", "L")}

        def rknn(feat_model: str, label_model: str, outputs: dict = outputs, lab: Any = lab, k: int = k) -> np.ndarray:
            feat_l, feat_u, _ = outputs[feat_model]
            return rknn_distribution(feat_l, feat_u, lab[label_model], step.num_classes, k)

        g1, l1, l2, k1 = rknn("G", "G"), rknn("L", "G"), rknn("L", "L"), rknn("K", "G")
        d_ll, d_gl = wasserstein_rows(l1, k1), wasserstein_rows(g1, k1)
        u1 = np.maximum(d_gl / (d_ll + 1e-5), d_ll / (d_gl + 1e-5)) * (d_ll + d_gl)
        u2 = wasserstein_rows(l2, torch.softmax(outputs["L"][2].to(torch.float64), dim=1).cpu().numpy())
        features = F.normalize(outputs["L"][1].to(torch.float64), dim=1).cpu().numpy()
        rng = np.random.default_rng(derive_seed(*step.seed_keys, "ifal_kmeans", pool.client))
        chosen, stage = ifal_select(
            u1, u2, features, pool.budget, rng, int(opts["kmeans_n_init"]), str(opts["kmeans_precision"])
        )
        selected[pool.client] = pool.unlabelled[chosen]
        info = kd.info[pool.client]
        diagnostics += [
            {"client": pool.client, "metric": "ifal_stage", "value": float(stage)},
            {"client": pool.client, "metric": "ifal_rknn_k", "value": float(k)},
            {"client": pool.client, "metric": "ifal_u_mean", "value": float((u1 * u2).mean())},
            {"client": pool.client, "metric": "kd_model_epochs", "value": float(info.epochs)},
        ]
    return QueryOutcome(selected=selected, diagnostics=diagnostics)
