"""Paired statistics, LoGo's penalty matrix and EMD against hand computations."""

import itertools

import numpy as np
import pandas as pd
import pytest

from fal.stats.emd import emd_to_uniform, local_global_emd
from fal.stats.logo import WinRateOptions, penalty_matrix, selector_pairs, winning_rate, winning_rate_gaps
from fal.stats.paired import aulc, hodges_lehmann, paired_comparison, positive_ratio, wilcoxon_greater


def test_wilcoxon_five_positive_seeds_gives_one_over_32():
    assert wilcoxon_greater([3.0, 1.0, 4.0, 1.5, 9.0]) == pytest.approx(1 / 32)


def test_wilcoxon_one_smallest_negative_gives_two_over_32():
    # Table 1's 0.06 entries: 4 of 5 positive, the negative with the smallest |Δ|
    assert wilcoxon_greater([5.0, 4.0, 3.0, 2.0, -1.0]) == pytest.approx(2 / 32)


def test_wilcoxon_by_enumeration_with_ties_and_zeros():
    d = np.array([2.0, 2.0, -1.0, 3.0, 0.0])
    nonzero = d[d != 0]
    ranks = pd.Series(np.abs(nonzero)).rank().to_numpy()  # mid-ranks: 1, 2.5, 2.5, 4 for |Δ| 1, 2, 2, 3
    observed = ranks[nonzero > 0].sum()
    sums = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(ranks))]
    expected = np.mean([s >= observed - 1e-12 for s in sums])  # zero dropped: 2^4 sign patterns
    assert wilcoxon_greater(d) == pytest.approx(expected)
    assert wilcoxon_greater([0.0, 0.0, 0.0]) == 1.0


def test_hodges_lehmann_is_median_of_walsh_averages():
    x = list(range(1, 9)) + [20, 30]
    walsh = sorted((x[i] + x[j]) / 2 for i in range(len(x)) for j in range(i, len(x)))
    assert len(walsh) == 55
    assert hodges_lehmann(x) == pytest.approx(walsh[27]) == pytest.approx(6.0)
    assert hodges_lehmann([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(3.0)  # 15 averages, robust to the outlier


def test_positive_ratio_counts_strictly_positive():
    assert positive_ratio([1.0, -2.0, 0.0, 3.0, 4.0]) == pytest.approx(0.6)


def test_aulc_of_known_curves():
    ratios = [5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert aulc(ratios, [50.0] * 9) == pytest.approx(50.0 * 40)
    # linear 40 -> 80 over 5..45: area = 40 * 60
    assert aulc(ratios, np.linspace(40, 80, 9)) == pytest.approx(2400.0)
    # a constant 5-point gap gives the "200 pp" magnitude of Table 1; fraction units divide by 100
    assert aulc(ratios, [55.0] * 9) - aulc(ratios, [50.0] * 9) == pytest.approx(200.0)
    assert aulc(ratios, [50.0] * 9, x_unit="fraction") == pytest.approx(20.0)
    assert aulc([10, 5], [2.0, 0.0]) == pytest.approx(5.0)  # order-independent


def test_paired_comparison_orients_on_winner():
    g = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    loc = g + np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    res = paired_comparison(g, loc, "G", "L")
    assert (res.winner, res.loser) == ("L", "G")
    assert (
        res.positive_ratio == 1.0 and res.p_value == pytest.approx(1 / 32) and res.hodges_lehmann == pytest.approx(3.0)
    )


def _curves(diffs_by_cycle, base=50.0):
    """(R, S) accuracy arrays: i = base + diff, j = base."""
    d = np.asarray(diffs_by_cycle, dtype=float)
    return base + d, np.full_like(d, base)


def test_winning_rate_faithful_and_corrected():
    # 3 label sets × 4 seeds. Round 1 is the shared initial set (no difference). Round 2: clear win
    # (t = √4·2/sd, sd of [1.9, 2.0, 2.1, 2.0] ≈ 0.082 → t ≈ 49). Round 3: mean 0.5, sd ≈ 1.29, t ≈ 0.77.
    a, b = _curves([[0, 0, 0, 0], [1.9, 2.0, 2.1, 2.0], [2.0, -1.0, 2.0, -1.0]])
    assert winning_rate(a, b) == pytest.approx(1 / 3)  # one win, divided by R = 3 (LoGo's notebook)
    assert winning_rate(a, b, WinRateOptions.preset("corrected")) == pytest.approx(1 / 2)
    assert winning_rate(b, a) == 0.0
    # t just between LoGo's 2.776 and the 3-df value 3.182: a win only for the faithful critical value
    d = 1.0 + 0.5774 * np.array([-1.0, 1.0, -1.0, 1.0])  # sd = 2/3, t = 3.0
    t = 2 * d.mean() / d.std(ddof=1)
    assert 2.776 < t < 3.182
    a, b = _curves([[0, 0, 0, 0], list(d)])
    assert winning_rate(a, b) == pytest.approx(0.5)
    assert winning_rate(a, b, WinRateOptions.preset("corrected")) == 0.0
    # 3 seeds: the notebook's rule (df = S) gives 3.182, not its 4-seed constant 2.776, so t = 3.0 is no win
    d3 = np.array([0.732, 1.732, 2.732])
    assert np.sqrt(3) * d3.mean() / d3.std(ddof=1) == pytest.approx(3.0, abs=1e-3)
    a, b = _curves([[0, 0, 0], list(d3)])
    assert winning_rate(a, b) == 0.0


def test_penalty_matrix_of_constructed_case():
    rows = []
    seeds = [1, 2, 3, 4]
    noise = np.array([0.1, -0.1, 0.05, -0.05])
    for setting in ("s1", "s2"):
        for cycle in (1, 2, 3):
            for k, seed in enumerate(seeds):
                base = 50.0 + cycle + seed
                rows.append(
                    (setting, "A", seed, cycle, base + (0 if cycle == 1 else 3.0 + noise[k]))
                )  # A beats B, C at 2, 3
                rows.append((setting, "B", seed, cycle, base))
                # C beats B only at cycle 3 of s2
                rows.append(
                    (setting, "C", seed, cycle, base + (1.0 + noise[k] if (setting, cycle) == ("s2", 3) else 0.0))
                )
    acc = pd.DataFrame(rows, columns=["setting", "strategy", "seed", "cycle", "accuracy"])
    p = penalty_matrix(acc)
    assert p.loc["A", "B"] == pytest.approx(2 * 2 / 3)
    assert p.loc["A", "C"] == pytest.approx(2 * 2 / 3)
    assert p.loc["C", "B"] == pytest.approx(1 / 3)
    assert p.loc["B", "A"] == 0.0 and p.loc["C", "A"] == 0.0 and p.loc["B", "C"] == 0.0
    assert p.loc["mean defeated", "B"] == pytest.approx((4 / 3 + 1 / 3) / 2)
    assert p.loc["mean defeated", "A"] == 0.0


def test_winning_rate_gap_of_global_and_local_selectors():
    """LoGo Fig. 2: win^{GL} − win^{LG} per setting for each method run with both selectors."""
    info = {
        "strategies": [
            {"name": "entropy_g", "method": "entropy", "selector": "G", "label": "Entropy", "variant": ""},
            {"name": "entropy_l", "method": "entropy", "selector": "L", "label": "Entropy", "variant": ""},
            {"name": "random", "method": "random", "selector": "–", "label": "Random", "variant": ""},
            {"name": "margin_g", "method": "margin", "selector": "G", "label": "Margin", "variant": ""},
        ]
    }
    assert selector_pairs(info) == [("Entropy", "entropy_g", "entropy_l")]  # Margin has no L here
    noise = np.array([0.1, -0.1, 0.05, -0.05])
    rows = []
    for setting, rho, winner in (("lt", 20.0, "entropy_g"), ("bal", None, "entropy_l")):
        for cycle in (1, 2, 3):
            for k, seed in enumerate((1, 2, 3, 4)):
                for name in ("entropy_g", "entropy_l"):
                    lead = 2.0 + noise[k] if name == winner and cycle > 1 else 0.0
                    rows.append((setting, rho, 0.1, name, seed, cycle, 50.0 + seed + lead))
    acc = pd.DataFrame(rows, columns=["setting", "rho", "alpha", "strategy", "seed", "cycle", "accuracy"])
    gaps = winning_rate_gaps(acc, selector_pairs(info)).set_index("setting")
    assert gaps.loc["lt", "gap"] == pytest.approx(2 / 3)  # G wins cycles 2 and 3 of R = 3 (the faithful divisor)
    assert gaps.loc["bal", "gap"] == pytest.approx(-2 / 3)
    corrected = winning_rate_gaps(acc, selector_pairs(info), WinRateOptions.preset("corrected"))
    assert corrected.set_index("setting").loc["lt", "gap"] == pytest.approx(1.0)


def test_emd_of_known_distributions():
    assert emd_to_uniform([5, 5, 5, 5]) == 0.0
    assert emd_to_uniform([10, 0, 0, 0]) == pytest.approx(0.75)  # ½(|1 − ¼| + 3·¼)
    assert emd_to_uniform([10, 0, 0, 0], half=False) == pytest.approx(1.5)
    assert emd_to_uniform([3, 1]) == pytest.approx(0.25)
    assert np.isnan(emd_to_uniform([0, 0]))
    counts = pd.DataFrame({"client": [0, 0, 1, 1], "class": [0, 1, 0, 1], "value": [4.0, 0.0, 2.0, 2.0]})
    local, global_ = local_global_emd(counts, num_classes=2)
    assert local == pytest.approx((0.5 + 0.0) / 2)
    assert global_ == pytest.approx(emd_to_uniform([6, 2]))  # 0.25
