"""Client partitions with equal client sizes (reference-spec §1.4 and §1.5).

``dir_balance`` is FairFAL's partition: Dirichlet class proportions, 5 Sinkhorn passes, integer counts
by largest remainder, a deterministic repair that equalises client sizes, then a per-class shuffle.
``dir_balance_logo`` is LoGo's original (also IFAL's), kept for reproducing those papers.

Both are pure functions of the labels and of the generators passed in. They take the labels in
dataset order and return, per client, a list of dataset positions in the order the official code
builds it (class by class, each class in shuffled order); that order matters downstream because the
initial labelled set is drawn from it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class PartitionResult:
    clients: list[list[int]]
    """Per client, dataset positions in assignment order."""
    counts: np.ndarray
    """(K, C) int64 matrix of per-client class counts."""
    proportions: torch.Tensor
    """(K, C) float32 matrix passed as ``sample`` to partition the test set the same way."""


def _class_positions(labels: np.ndarray, num_classes: int) -> tuple[list[list[int]], np.ndarray]:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    positions = [np.flatnonzero(labels == c).tolist() for c in range(num_classes)]
    counts = np.array([len(p) for p in positions], dtype=np.int64)
    return positions, counts


def _dirichlet_rows(num_rows: int, num_classes: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """``num_rows`` independent Dirichlet(alpha·1) draws, one call per row as the official code does."""
    concentration = alpha * torch.ones(num_classes)
    return torch.stack([torch._sample_dirichlet(concentration, generator=generator) for _ in range(num_rows)])


def _largest_remainder_counts(proportions: torch.Tensor, class_counts: np.ndarray) -> np.ndarray:
    """Integer (K, C) counts whose columns sum to the class sizes (§1.4 step 3), float32 arithmetic."""
    num_clients, num_classes = proportions.shape
    x = np.zeros((num_clients, num_classes), dtype=np.int64)
    for j in range(num_classes):
        n_j = int(class_counts[j])
        if n_j == 0:
            continue
        col = proportions[:, j].clamp(min=0)
        if col.sum() <= 0:
            col = torch.ones(num_clients) / num_clients
        col = col / (col.sum() + 1e-12)
        real = col * n_j
        base = torch.floor(real).to(torch.long)
        remainder = n_j - int(base.sum().item())
        fractional = (real - base.float()).numpy()
        order = np.argsort(-fractional)  # NumPy's default (unstable) sort, as in the official code
        column = base.numpy().copy()
        if remainder > 0:
            column[order[:remainder]] += 1
        x[:, j] = column
    return x


def _equalise_client_sizes(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Move samples class by class from clients above their target size to clients below (§1.4 step 4).

    Each pass fixes the receiver list (largest deficit first) and donor list (largest surplus first) at
    its start; within a class, each receiver takes from the donors with the most supply first.
    """
    x = x.copy()
    deficits = (targets - x.sum(axis=1)).astype(np.int64)
    total = int(targets.sum())
    max_moves = total + 5
    moves = 0
    num_classes = x.shape[1]

    while True:
        receivers_pass = sorted(np.flatnonzero(deficits > 0).tolist(), key=lambda i: -deficits[i])
        donors_pass = sorted(np.flatnonzero(deficits < 0).tolist(), key=lambda i: deficits[i])
        if not receivers_pass or not donors_pass:
            break
        progressed = False
        for j in range(num_classes):
            donors = [s for s in donors_pass if x[s, j] > 0]
            receivers = [d for d in receivers_pass if deficits[d] > 0]
            if not donors or not receivers:
                continue
            supply = {s: int(min(x[s, j], -deficits[s])) for s in donors if -deficits[s] > 0}
            movable = min(sum(supply.values()), sum(int(deficits[d]) for d in receivers))
            if sum(supply.values()) <= 0:
                continue
            for d in receivers:
                if movable <= 0:
                    break
                need = int(deficits[d])
                if need <= 0:
                    continue
                for s in sorted(supply, key=lambda s: -supply[s]):  # stable: ties keep donor order
                    if need <= 0 or movable <= 0:
                        break
                    t = min(supply[s], need, movable)
                    if t <= 0:
                        continue
                    x[s, j] -= t
                    x[d, j] += t
                    supply[s] -= t
                    deficits[s] += t
                    deficits[d] -= t
                    movable -= t
                    need -= t
                    progressed = True
                    moves += t
                    if moves > max_moves:
                        break
                if moves > max_moves:
                    break
            if moves > max_moves:
                break
        if not progressed or moves > max_moves:
            break
    return x


def dir_balance(
    labels: np.ndarray,
    num_clients: int,
    num_classes: int,
    alpha: float,
    *,
    torch_generator: torch.Generator,
    py_random: random.Random,
    flip_draws: int = 0,
    proportions: torch.Tensor | None = None,
) -> PartitionResult:
    """FairFAL's equal-size Dirichlet partition.

    Parameters
    ----------
    labels: labels of the dataset in position order.
    torch_generator: draws the Dirichlet rows. The official code seeds the global torch RNG with 0.
    py_random: shuffles each class before it is dealt out (official: ``random.Random(0)``).
    flip_draws: uniform draws to skip before the Dirichlet draws. The official code iterates over the
        augmented training view first, and each image's RandomHorizontalFlip consumes one draw.
    proportions: a (K, C) matrix to use instead of drawing one (how the test split is made).
    """
    if num_clients < 1:
        raise ValueError(f"num_clients must be >= 1, got {num_clients}")
    class_lists, class_counts = _class_positions(labels, num_classes)
    total = int(class_counts.sum())
    if total < num_clients:
        raise ValueError(f"cannot split {total} samples over {num_clients} clients")

    for _ in range(flip_draws):
        torch.rand(1, generator=torch_generator)

    if proportions is None:
        if alpha <= 0:
            raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
        p = _dirichlet_rows(num_clients, num_classes, alpha, torch_generator)
        for _ in range(5):
            p = p / (p.sum(dim=1, keepdim=True) + 1e-12)
            p = p / (p.sum(dim=0, keepdim=True) + 1e-12)
    else:
        p = proportions.clone().detach().to(torch.float32)
        if tuple(p.shape) != (num_clients, num_classes):
            raise ValueError(f"proportions have shape {tuple(p.shape)}, expected {(num_clients, num_classes)}")

    x = _largest_remainder_counts(p, class_counts)
    targets = np.array(
        [total // num_clients + (1 if i < total % num_clients else 0) for i in range(num_clients)], dtype=np.int64
    )
    x = _equalise_client_sizes(x, targets)
    if not (x.sum(axis=0) == class_counts).all() or not (x.sum(axis=1) == targets).all():
        raise AssertionError("dir_balance: the size repair did not reach the target client sizes")

    clients: list[list[int]] = [[] for _ in range(num_clients)]
    for j in range(num_classes):
        members = list(class_lists[j])
        py_random.shuffle(members)
        start = 0
        for i in range(num_clients):
            take = int(x[i, j])
            clients[i].extend(members[start : start + take])
            start += take

    divisor = torch.clamp(torch.tensor(class_counts, dtype=torch.float32), min=1.0)
    return PartitionResult(clients=clients, counts=x, proportions=torch.from_numpy(x).float() / divisor)


def _logo_proportions(k: int, c: int, alpha: float, torch_generator: torch.Generator) -> torch.Tensor:
    """LoGo's client × class proportions: Dirichlet rows, alternately normalised over clients and classes
    until every row and column sum is near its target (§1.5)."""
    if alpha <= 0:
        raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
    p = _dirichlet_rows(k, c, alpha, torch_generator)
    eps = min(1, k / c, c / k) / 1000
    row_sum, col_sum = p.sum(1), p.sum(0)
    row_target: float
    col_target: float
    if alpha < 10:
        row_target, col_target = 1, k / c
        while torch.any(row_sum <= row_target - eps) or torch.any(col_sum <= col_target - eps):
            p = p / p.sum(0)
            p = p / p.sum(1).unsqueeze(1)
            row_sum, col_sum = p.sum(1), p.sum(0)
    else:
        row_target, col_target = c / k, 1
        while torch.any(abs(row_sum - row_target) >= eps) or torch.any(abs(col_sum - col_target) >= eps):
            p = p / p.sum(1).unsqueeze(1)
            p = p / p.sum(0)
            row_sum, col_sum = p.sum(1), p.sum(0)
    return p


def dir_balance_logo(
    labels: np.ndarray,
    num_clients: int,
    num_classes: int,
    alpha: float,
    *,
    torch_generator: torch.Generator,
    py_random: random.Random,
    proportions: torch.Tensor | None = None,
) -> PartitionResult:
    """LoGo's original balanced Dirichlet partition (§1.5); client sizes are near-equal, not exact."""
    class_lists, class_counts = _class_positions(labels, num_classes)
    k, c = num_clients, num_classes
    if proportions is None:
        p = _logo_proportions(k, c, alpha, torch_generator)
    else:
        p = proportions.clone().detach()

    x = torch.ceil(p * torch.tensor(class_counts)).long()
    x = torch.where(x <= 1, 0, x + 1) if alpha < 10 else torch.where(x <= 1, 0, x)

    clients: list[list[int]] = [[] for _ in range(k)]
    per_client = np.zeros((k, c), dtype=np.int64)
    pools = {cls: list(class_lists[cls]) for cls in range(c)}
    if alpha < 10:
        cap = math.ceil(len(labels) / k)
        for _sweep in range(100):
            for client in range(k):
                for cls in range(c):
                    drawn = py_random.sample(pools[cls], min(len(pools[cls]), int(x[client, cls])))
                    if len(clients[client]) + len(drawn) > cap:
                        drawn = drawn[: cap - len(clients[client])]
                    clients[client] += drawn
                    per_client[client, cls] += len(drawn)
                    pools[cls] = list(set(pools[cls]) - set(drawn))
            if sum(len(v) for v in pools.values()) == 0:
                break
        for short in np.flatnonzero(per_client.sum(axis=1) <= cap - 1):
            client = int(short)
            need = cap - len(clients[client])
            added = 0
            for cls in range(c):
                taken = pools[cls][: need - added]
                clients[client] += taken
                per_client[client, cls] += len(taken)
                pools[cls] = list(set(pools[cls]) - set(taken))
                added += len(taken)
    else:
        cumulative = x.T.cumsum(dim=1)
        for cls in range(c):
            pieces = np.split(np.array(class_lists[cls], dtype=np.int64), list(cumulative[cls].numpy()))
            for client in range(k):
                clients[client] += pieces[client].tolist()
                per_client[client, cls] += len(pieces[client])
    return PartitionResult(clients=clients, counts=per_client, proportions=p)
