"""GCNAL, CoreGCN variant (reference-spec §6.7), with the G or L model's features.

Nodes are (a random subset of at most ``subset_size``) unlabelled samples followed by the labelled
ones; their L2-normalised penultimate features F are both the graph's basis and the GCN's input.
The adjacency is A = S·diag(1/colsum S) + I with S = F·Fᵀ − I. A two-layer graph convolution
network (D → ``hidden`` → 1, sigmoid) is trained full-batch to tell labelled (1) from unlabelled (0)
nodes:
loss = −mean log s_labelled − ``eta``·mean log(1 − s_unlabelled), Adam(lr, weight decay), ``steps``
steps, dropout after the hidden ReLU. Then greedy k-center (Euclidean) picks b unlabelled nodes, with
the labelled nodes as initial centres, on the GCN's third output as the official code computes it: the
hidden features plus the output layer's pre-sigmoid value (``hidden`` + 1 columns, eval mode).

A is never materialised: since S = F·Fᵀ − I, A·M = F·(Fᵀ·M') − M' + M with M' = M / colsum and
colsum_j = F_j·Σ_i F_i − 1, which costs O(N·D·h) per product instead of O(N²·h) time and O(N²)
memory; it equals the dense product up to floating-point rounding. The first layer's A·X is constant
and computed once. The log-terms of the loss use
log-sigmoid (the same values, without overflow to −∞). Initialisation (U(±1/√out)) and dropout draw
from an explicit torch generator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fal.config.methods import MethodInfo, Option
from fal.config.strategy import StrategyConfig
from fal.seeding import numpy_rng, torch_generator
from fal.strategies.base import QueryOutcome, QueryStep
from fal.strategies.inference import forward
from fal.strategies.kcenter import kcenter_greedy

METHOD = MethodInfo(
    name="gcnal",
    label="GCNAL",
    summary="a 2-layer GCN on the feature-similarity graph, trained labelled vs unlabelled, then k-center on its 129-d output as the official code computes it",
    spec="§6.7",
    query_models=("global", "local"),
    options=(  # CoreGCN's defaults in the official code
        Option("subset_size", 10000, "unlabelled nodes sampled into the graph", minimum=1, integer=True),
        Option("hidden", 128, "hidden graph-conv width", minimum=1, integer=True),
        Option("dropout", 0.3, "dropout of the graph convolutions", minimum=0, below=1),
        Option("lr", 1.0e-3, "Adam learning rate", above=0),
        Option("weight_decay", 5.0e-4, "Adam weight decay", minimum=0),
        Option("steps", 200, "full-batch training steps", minimum=1, integer=True),
        Option("eta", 1.2, "weight of the unlabelled term of the loss", minimum=0),
    ),
)


class LowRankAdjacency:
    """A = (F·Fᵀ − I)·diag(1/colsum) + I for row-normalised F, applied without forming it."""

    def __init__(self, features: torch.Tensor):
        self.f = F.normalize(features, p=2, dim=1)
        self.inv_colsum = 1.0 / (self.f @ self.f.sum(0) - 1.0)

    def __matmul__(self, m: torch.Tensor) -> torch.Tensor:
        scaled = m * self.inv_colsum[:, None]
        return self.f @ (self.f.T @ scaled) - scaled + m

    def dense(self) -> torch.Tensor:
        """The N × N matrix (tests only)."""
        n = self.f.shape[0]
        eye = torch.eye(n, dtype=self.f.dtype, device=self.f.device)
        s = self.f @ self.f.T - eye
        return s / s.sum(0, keepdim=True) + eye


class GCN:
    """Two graph convolutions, D → hidden (ReLU, dropout) → 1 (sigmoid logit)."""

    def __init__(self, in_dim: int, hidden: int, dropout: float, generator: torch.Generator, device: Any) -> None:
        def uniform(*shape: int) -> torch.Tensor:
            bound = 1.0 / math.sqrt(shape[-1])
            t = torch.rand(*shape, generator=generator, device=device) * (2 * bound) - bound
            return t.requires_grad_(True)

        self.w1, self.b1 = uniform(in_dim, hidden), uniform(hidden)
        self.w2, self.b2 = uniform(hidden, 1), uniform(1)
        self.dropout = dropout
        self.generator = generator

    def parameters(self) -> list[torch.Tensor]:
        return [self.w1, self.b1, self.w2, self.b2]

    def hidden(self, ax: torch.Tensor) -> torch.Tensor:
        """ReLU(A·X·W₁ + b₁), given the constant A·X (A·(X·W₁) = (A·X)·W₁)."""
        return torch.relu(ax @ self.w1 + self.b1)

    def selection_features(self, ax: torch.Tensor, adj: LowRankAdjacency) -> torch.Tensor:
        """What CoreGCN's k-center runs on: the GCN's third output in eval mode, ``cat(feat, x)`` — the
        hidden units plus the output layer's pre-sigmoid column (hidden + 1 columns; LG:gcnal.py:94
        unpacks ``scores, _, feat`` from ``forward``'s ``sigmoid(x), feat, cat(feat, x)``). The extra
        column, about −2.5…1.0 against hidden values ≤ 0.5, dominates the distances."""
        return torch.cat([self.hidden(ax), self.logit(ax, adj, train=False).unsqueeze(1)], dim=1)

    def logit(self, ax: torch.Tensor, adj: LowRankAdjacency, train: bool) -> torch.Tensor:
        h = self.hidden(ax)
        if train and self.dropout > 0:
            keep = torch.rand(h.shape, generator=self.generator, device=h.device) >= self.dropout
            h = h * keep / (1.0 - self.dropout)
        return (adj @ (h @ self.w2) + self.b2)[:, 0]


def train_gcn(
    features: torch.Tensor, num_unlabelled: int, options: dict, generator: torch.Generator
) -> tuple[GCN, LowRankAdjacency, torch.Tensor]:
    """Train on raw node ``features``; the GCN's input X is their row-normalised form (as is F).

    Returns the GCN, the adjacency and A·X, which the first layer needs and which never changes.
    """
    adj = LowRankAdjacency(features.float())
    ax = adj @ adj.f
    gcn = GCN(ax.shape[1], int(options["hidden"]), float(options["dropout"]), generator, ax.device)
    optimizer = torch.optim.Adam(gcn.parameters(), lr=float(options["lr"]), weight_decay=float(options["weight_decay"]))
    eta = float(options["eta"])
    with torch.enable_grad():
        for _ in range(int(options["steps"])):
            optimizer.zero_grad()
            logit = gcn.logit(ax, adj, train=True)
            loss = -F.logsigmoid(logit[num_unlabelled:]).mean() - eta * F.logsigmoid(-logit[:num_unlabelled]).mean()
            loss.backward()
            optimizer.step()
    return gcn, adj, ax


def query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome:
    options = strategy.resolved_options()
    selected = {}
    for pool in step.pools:
        model = step.query_model(strategy.query_model, pool)
        rng = numpy_rng(*step.seed_keys, "gcnal_subset", pool.client)
        subset = rng.choice(
            len(pool.unlabelled), size=min(int(options["subset_size"]), len(pool.unlabelled)), replace=False
        )
        nodes = np.concatenate([pool.unlabelled[subset], pool.labelled])
        _, features = forward(model, step.query_bank, nodes, step.batch_size)
        device = features.device
        generator = torch_generator(*step.seed_keys, "gcnal", pool.client, device=str(device))
        gcn, adj, ax = train_gcn(features, len(subset), options, generator)
        with torch.no_grad():
            selection = gcn.selection_features(ax, adj)
        points = selection.cpu().numpy().astype(np.float64)
        n = len(subset)
        picks = kcenter_greedy(points[:n], pool.budget, anchors=points[n:])
        selected[pool.client] = pool.unlabelled[subset[picks]]
    return QueryOutcome(selected=selected)
