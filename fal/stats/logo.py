"""LoGo's per-round t-test winning rate and pairwise penalty matrix (reference-spec §8.4, P-LG Eq. 5–6).

Faithful to LoGo's notebook by default: the critical value is the two-sided 95 % Student-t value for S
degrees of freedom (the notebook's constant 2.776 is that value for its 4 seeds, although S seeds give
S − 1), the first label set is skipped but the sum is still divided by the number of label sets R.
``corrected`` divides by the number of rounds actually tested and uses S − 1 degrees of freedom. With
another seed count than LoGo's 4 the threshold follows the seeds instead of staying at 2.776.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

LOGO_T_CRITICAL = 2.776
"""The notebook's constant: two-sided 95 % t for 4 degrees of freedom (its 4 seeds)."""


@dataclass(frozen=True)
class WinRateOptions:
    skip_first: bool = True
    """Skip the first label set (the shared random initial set) when counting wins."""
    divide_by: str = "all"
    """"all": divide by R, the number of label sets (LoGo's notebook); "tested": by the rounds tested."""
    t_dof_offset: int = 0
    """Degrees of freedom of the critical t value: S − offset for S seeds (0: LoGo's notebook, 1: correct)."""

    @classmethod
    def preset(cls, name: str) -> WinRateOptions:
        if name == "faithful":
            return cls()
        if name == "corrected":
            return cls(skip_first=True, divide_by="tested", t_dof_offset=1)
        raise ValueError(f"win-rate preset must be 'faithful' or 'corrected', got {name!r}")


def winning_rate(acc_i: ArrayLike, acc_j: ArrayLike, options: WinRateOptions = WinRateOptions()) -> float:
    """win^{ij}: share of AL rounds in which i beats j by a paired t-test over seeds.

    ``acc_i``/``acc_j`` have shape (R rounds, S seeds), rows in round order, seeds paired by column.
    t = √S·mean(Δ)/sd(Δ) with sd's divisor S − 1; a NaN t (σ = 0 and μ = 0) is no win, σ = 0 with
    μ > 0 is a win (t = +∞).
    """
    a = np.asarray(acc_i, dtype=float)
    b = np.asarray(acc_j, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("accuracies must both have shape (rounds, seeds)")
    rounds, seeds = a.shape
    if seeds < 2:
        return float("nan")
    critical = float(stats.t.ppf(0.975, seeds - options.t_dof_offset))
    d = a - b
    tested = d[1:] if options.skip_first else d
    mean = tested.mean(axis=1)
    sd = tested.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.sqrt(seeds) * mean / sd
    wins = int(np.sum(np.nan_to_num(t, nan=-np.inf) > critical))
    divisor = rounds if options.divide_by == "all" else len(tested)
    return wins / divisor if divisor else float("nan")


def penalty_matrix(accuracy: pd.DataFrame, options: WinRateOptions = WinRateOptions()) -> pd.DataFrame:
    """P_ij = Σ over settings of win^{ij}, plus a bottom row "mean defeated" (mean over i ≠ j of column j).

    ``accuracy`` has columns setting, strategy, seed, cycle, accuracy. Within a setting only seeds that
    every strategy has are used, so the t-test stays paired.
    """
    strategies = list(dict.fromkeys(accuracy["strategy"]))
    matrix = pd.DataFrame(0.0, index=strategies, columns=strategies)
    for _, block in accuracy.groupby("setting", sort=False):
        wide = block.pivot_table(index=["cycle", "seed"], columns="strategy", values="accuracy")
        wide = wide.dropna()
        present = [s for s in strategies if s in wide.columns]
        for i in present:
            for j in present:
                if i == j:
                    continue
                a = wide[i].unstack("seed").sort_index()
                b = wide[j].unstack("seed").sort_index()
                matrix.loc[i, j] += winning_rate(a.to_numpy(), b.to_numpy(), options)
    n = len(strategies)
    mean_defeated = [(matrix[j].sum() - matrix.loc[j, j]) / (n - 1) if n > 1 else float("nan") for j in strategies]
    matrix.loc["mean defeated"] = mean_defeated
    return matrix


def selector_pairs(info: dict) -> list[tuple[str, str, str]]:
    """(method label, G strategy, L strategy) for every method the study runs with both selectors (the
    same options), in the study's order."""
    by_key: dict[tuple[str, str], dict[str, str]] = {}
    labels: dict[tuple[str, str], str] = {}
    for s in info["strategies"]:
        if s["selector"] in ("G", "L"):
            key = (s["method"], s.get("variant", ""))
            by_key.setdefault(key, {})[s["selector"]] = s["name"]
            labels.setdefault(key, s["label"] + (f" [{s['variant']}]" if s.get("variant") else ""))
    return [(labels[k], v["G"], v["L"]) for k, v in by_key.items() if "G" in v and "L" in v]


def winning_rate_gaps(
    accuracy: pd.DataFrame, pairs: list[tuple[str, str, str]], options: WinRateOptions = WinRateOptions()
) -> pd.DataFrame:
    """LoGo Fig. 2: per setting and method, win^{GL} − win^{LG} (Eq. 6): +1 when the global-model
    selector beats the local-only one in every tested round, −1 the reverse. ``accuracy`` as for
    ``penalty_matrix`` (with the setting's attributes); seeds common to both strategies are paired."""
    rows = []
    attributes = [c for c in ("dataset", "rho", "alpha", "num_clients") if c in accuracy.columns]
    for setting, block in accuracy.groupby("setting", sort=False):
        wide = block.pivot_table(index=["cycle", "seed"], columns="strategy", values="accuracy")
        for label, g, local in pairs:
            if g not in wide.columns or local not in wide.columns:
                continue
            pair = wide[[g, local]].dropna()
            a = pair[g].unstack("seed").sort_index().to_numpy()
            b = pair[local].unstack("seed").sort_index().to_numpy()
            gap = winning_rate(a, b, options) - winning_rate(b, a, options)
            rows.append({"setting": setting, **block.iloc[0][attributes].to_dict(), "method": label, "gap": gap})
    return pd.DataFrame(rows, columns=["setting", *attributes, "method", "gap"])


LOGO_CATEGORIES = (
    ("selector", "Query selector"),
    ("alpha", "Local heterogeneity α"),
    ("rho", "Global imbalance ρ"),
    ("model", "Architecture"),
)
"""LoGo Fig. 4's categories that one study can vary (setting attribute, title), after "Overall". Its
other two, the labelling budget and the initialisation (scratch or pretrained), are not varied within a
study here (budgets are a study's protocol; pretrained encoders are not implemented)."""


def win_defeat_percentages(
    accuracy: pd.DataFrame, info: dict, reference: str, options: WinRateOptions = WinRateOptions()
) -> pd.DataFrame:
    """LoGo Fig. 4: per category, value and baseline method, the winning percentage of ``reference``
    (LoGo) over the method and its defeat percentage (the method over it), Eq. 6 averaged over the
    study's (setting, selector) cases in that category value, × 100. A LoGo "setting" is one of ours
    with one query selector: a method run with G and with L counts as two cases, and the category
    "Query selector" splits them. ``accuracy`` as for ``penalty_matrix``, with the setting attributes."""
    strategies = {s["name"]: s for s in info["strategies"]}
    if reference not in strategies:
        raise ValueError(f"LoGo Fig. 4 compares every method with {reference!r}, which the study does not run")
    cases = []
    for setting, block in accuracy.groupby("setting", sort=False):
        wide = block.pivot_table(index=["cycle", "seed"], columns="strategy", values="accuracy")
        attributes = block.iloc[0]
        for name in wide.columns:
            if name == reference:
                continue
            pair = wide[[reference, name]].dropna()
            a = pair[reference].unstack("seed").sort_index().to_numpy()
            b = pair[name].unstack("seed").sort_index().to_numpy()
            strategy = strategies[name]
            cases.append(
                {
                    "setting": setting,
                    "method": strategy["label"] + (f" [{strategy['variant']}]" if strategy.get("variant") else ""),
                    **{key: attributes[key] for key, _ in LOGO_CATEGORIES if key in attributes.index},
                    "selector": strategy["selector"],  # the baseline's, not the block's first row's
                    "win": 100.0 * winning_rate(a, b, options),
                    "defeat": 100.0 * winning_rate(b, a, options),
                }
            )
    frame = pd.DataFrame(cases)
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=["category", "value", "method", "win", "defeat", "cases"])
    methods = list(dict.fromkeys(frame["method"]))
    for method in methods:
        sub = frame[frame["method"] == method]
        rows.append({"category": "Overall", "value": "all", "method": method, **_mean_rates(sub)})
    for key, title in LOGO_CATEGORIES:
        if key not in frame.columns or frame[key].astype(str).nunique() < 2:
            continue  # a category the study does not vary
        for value, group in frame.groupby(key, sort=True, dropna=False):
            for method in methods:
                sub = group[group["method"] == method]
                if len(sub):
                    rows.append({"category": title, "value": value, "method": method, **_mean_rates(sub)})
    return pd.DataFrame(rows, columns=["category", "value", "method", "win", "defeat", "cases"])


def _mean_rates(cases: pd.DataFrame) -> dict:
    return {"win": float(cases["win"].mean()), "defeat": float(cases["defeat"].mean()), "cases": len(cases)}
