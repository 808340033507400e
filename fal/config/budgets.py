"""Annotation budgets and the AL cycle schedule (reference-spec §2.1–§2.2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    reference_size: int
    """R = round(N, -2): the training-set size rounded to hundreds (Python's round, ties to even)."""
    per_client_initial: int
    per_client_query: int
    ratios: tuple[float, ...]
    """Labelled ratio (fraction of R) of each cycle, cycle 1 first."""

    @property
    def num_cycles(self) -> int:
        return len(self.ratios)

    def ratio_percent(self, cycle: int) -> float:
        """Labelled ratio of a 1-based cycle in percent, as the paper's table columns show it."""
        return round(100.0 * self.ratios[cycle - 1], 6)


def cycle_ratios(initial_ratio: float, query_ratio: float, end_ratio: float) -> tuple[float, ...]:
    """Ratios of the cycles the official loop runs: ``while round(ratio, 2) <= end_ratio``.

    The ratio grows by ``query_ratio`` with float accumulation, exactly as the loop does.
    """
    if not 0 < initial_ratio <= 1 or not 0 < query_ratio <= 1:
        raise ValueError(f"initial_ratio and query_ratio must be in (0, 1], got {initial_ratio}, {query_ratio}")
    ratios = []
    current = initial_ratio
    while round(current, 2) <= end_ratio:
        ratios.append(current)
        current += query_ratio
    if not ratios:
        raise ValueError(f"end_ratio {end_ratio} is below initial_ratio {initial_ratio}: no AL cycle would run")
    return tuple(ratios)


def compute_budget(
    num_train: int, num_clients: int, initial_ratio: float, query_ratio: float, end_ratio: float
) -> Budget:
    reference = round(num_train, -2)
    return Budget(
        reference_size=reference,
        per_client_initial=int(reference * initial_ratio / num_clients),
        per_client_query=int(reference * query_ratio / num_clients),
        ratios=cycle_ratios(initial_ratio, query_ratio, end_ratio),
    )


BUDGET_RULES = ("equal", "per_client")
"""``protocol.budget_rule``: FairFAL's equal per-client budget, or KAFAL's share of each client's data."""


def cycle_ratio(initial_ratio: float, query_ratio: float, cycle: int) -> float:
    """Cycle ``cycle``'s (1-based) labelled ratio, accumulated in floats as the official loop does
    (``cycle_ratios``' entries): it does not depend on how many cycles the study runs."""
    current = initial_ratio
    for _ in range(cycle - 1):
        current += query_ratio
    return current


def client_budget(rule: str, num_train: int, client_sizes: Sequence[int], ratio: float) -> tuple[int, ...]:
    """Each client's share of one labelling step under ``rule``: "equal" = FairFAL's int(R·ratio/K) for
    every client, R = round(N, −2) (§2.1); "per_client" = KAFAL's ceil(ratio·n_c) of each client's n_c
    training images (KA:main.py: ``np.ceil((BASE / NUM_TRAIN) * total_data_num)``, the same float product)."""
    if rule == "equal":
        share = int(round(num_train, -2) * ratio / len(client_sizes))
        return (share,) * len(client_sizes)
    if rule == "per_client":
        return tuple(math.ceil(ratio * n) for n in client_sizes)
    raise ValueError(f"unknown budget rule {rule!r}; one of {list(BUDGET_RULES)}")


@dataclass(frozen=True)
class ClientBudgets:
    """What each client labels: ``initial[c]`` in cycle 1, ``query[c]`` at every query step."""

    initial: tuple[int, ...]
    query: tuple[int, ...]

    def labelled(self, client: int, cycle: int) -> int:
        """Client ``client``'s labelled samples in (1-based) cycle ``cycle``."""
        return self.initial[client] + self.query[client] * (cycle - 1)


def client_budgets(
    rule: str, num_train: int, client_sizes: Sequence[int], initial_ratio: float, query_ratio: float
) -> ClientBudgets:
    """Per-client budgets of the initial labelled set and of every query step (``client_budget``)."""
    return ClientBudgets(
        client_budget(rule, num_train, client_sizes, initial_ratio),
        client_budget(rule, num_train, client_sizes, query_ratio),
    )
