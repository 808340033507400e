"""Paired statistics over seeds behind FairFAL's Table 1 (reference-spec §8.3).

Each seed gives one area under the learning curve (AULC) per strategy; the paired differences
Δ_s = AULC_s(i) − AULC_s(j) are summarised by the positive ratio π⁺, a one-sided exact Wilcoxon
signed-rank p-value and the Hodges–Lehmann estimate of the median difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

X_UNITS = {"percent": 100.0, "fraction": 1.0}
"""AULC's x axis: the labelled ratio in percent (the paper's magnitudes, e.g. "201 pp") or as a fraction."""


def aulc(ratios_percent: ArrayLike, accuracies: ArrayLike, x_unit: str = "percent") -> float:
    """Trapezoidal area under accuracy (%) against labelled ratio.

    ``ratios_percent`` are labelled ratios in percent (5, 10, …, 45); with ``x_unit="percent"`` the
    area is in accuracy-% × ratio-% (a constant 5-point gap over 5…45 % gives 200), which matches the
    magnitudes of FairFAL's Table 1 (§8.3). ``x_unit="fraction"`` divides x by 100.
    """
    if x_unit not in X_UNITS:
        raise ValueError(f"x_unit must be one of {sorted(X_UNITS)}, got {x_unit!r}")
    x = np.asarray(ratios_percent, dtype=float) * X_UNITS[x_unit] / 100.0
    y = np.asarray(accuracies, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("ratios and accuracies must be 1-D and of equal length")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def positive_ratio(differences: ArrayLike) -> float:
    """π⁺: the share of seeds whose difference is strictly positive (ties count as not positive)."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return float("nan")
    return float(np.mean(d > 0))


def wilcoxon_greater(differences: ArrayLike, zero_method: str = "wilcox") -> float:
    """One-sided Wilcoxon signed-rank p-value for H1: the median difference is > 0.

    Exact null distribution: scipy's exact method when |Δ| has no ties, otherwise a complete
    enumeration of all 2^n sign flips on the mid-ranks (also exact). ``zero_method="wilcox"`` drops
    zero differences before ranking (scipy's default), so five seeds with one tie behave as four.
    With n non-zero differences the smallest attainable p is 1/2^n (1/32 for 5 seeds). All
    differences zero: p = 1 (no evidence of a positive shift).
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0 or np.any(~np.isfinite(d)):
        return float("nan")
    if np.all(d == 0):
        return 1.0
    nonzero = np.abs(d[d != 0]) if zero_method == "wilcox" else np.abs(d)
    ties = len(np.unique(nonzero)) < len(nonzero)
    method = stats.PermutationMethod(n_resamples=np.inf) if ties else "exact"
    return float(stats.wilcoxon(d, alternative="greater", zero_method=zero_method, method=method).pvalue)


def hodges_lehmann(differences: ArrayLike) -> float:
    """Hodges–Lehmann estimate: the median of the Walsh averages (Δ_s + Δ_t)/2 over all s ≤ t.

    The diagonal (s = t) is included, which gives n(n+1)/2 averages (15 for five seeds).
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return float("nan")
    i, j = np.triu_indices(d.size)
    return float(np.median((d[i] + d[j]) / 2.0))


@dataclass(frozen=True)
class PairedResult:
    """One Table 1 cell: the winner and the statistics of winner − loser."""

    winner: str
    loser: str
    n: int
    positive_ratio: float
    p_value: float
    hodges_lehmann: float
    mean_difference: float


def paired_comparison(
    a: ArrayLike, b: ArrayLike, name_a: str, name_b: str, zero_method: str = "wilcox"
) -> PairedResult:
    """Compare paired per-seed values of two strategies; the winner is the one with the larger HL.

    Differences are oriented winner − loser (as in the paper, which lists the winner and then its
    π⁺, p and HL). A zero HL falls back to the mean difference; a complete tie names ``name_a``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired values need the same seeds on both sides")
    d = a - b
    hl = hodges_lehmann(d)
    a_wins = hl > 0 or (hl == 0 and d.mean() >= 0)
    if not a_wins:
        d, name_a, name_b = -d, name_b, name_a
    return PairedResult(
        winner=name_a,
        loser=name_b,
        n=int(d.size),
        positive_ratio=positive_ratio(d),
        p_value=wilcoxon_greater(d, zero_method),
        hodges_lehmann=hodges_lehmann(d),
        mean_difference=float(d.mean()),
    )
