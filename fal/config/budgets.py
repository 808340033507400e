"""Annotation budgets and the AL cycle schedule (reference-spec §2.1–§2.2)."""

from __future__ import annotations

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
