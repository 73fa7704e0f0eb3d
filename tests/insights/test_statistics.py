"""The dashboard intervals and the experiment test come from statsmodels now; these tests hold them to the
hand-written formulas they replaced (kept here, verbatim, as the reference) to 1e-9, edge cases included:
0 successes, all successes, no trials and more successes than trials."""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from engine.insights.analytics import add_rates, wilson, wilson_arrays
from engine.insights.experiments import two_proportion

TOL = 1e-9
Z95 = 1.959963984540054  # the constant the old code used


# ---- the replaced code, as it was ------------------------------------------------------------------------------

def old_wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    if trials <= 0 or successes < 0 or successes > trials:
        return math.nan, math.nan
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def old_wilson_arrays(successes, trials, z: float = Z95):
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    ok = (n > 0) & (x >= 0) & (x <= n)
    n_safe = np.where(ok, n, 1.0)
    p = np.where(ok, x / n_safe, 0.0)
    denom = 1 + z * z / n_safe
    centre = (p + z * z / (2 * n_safe)) / denom
    half = z * np.sqrt(p * (1 - p) / n_safe + z * z / (4 * n_safe * n_safe)) / denom
    low = np.where(x == 0, 0.0, np.maximum(0.0, centre - half))
    high = np.where(x == n, 1.0, np.minimum(1.0, centre + half))
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def old_two_proportion(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05):
    """(diff, low, high, z, p_value)"""
    if n1 <= 0 or n0 <= 0 or not (0 <= x1 <= n1) or not (0 <= x0 <= n0):
        return (math.nan,) * 5
    z_crit = NormalDist().inv_cdf(1 - alpha / 2)
    p1, p0 = x1 / n1, x0 / n0
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    pooled = (x1 + x0) / (n1 + n0)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se_pooled == 0:
        return diff, diff, diff, 0.0, 1.0
    z = diff / se_pooled
    return diff, diff - z_crit * se, diff + z_crit * se, z, math.erfc(abs(z) / math.sqrt(2))


# ---- comparison ------------------------------------------------------------------------------------------------

def same(got, want) -> bool:
    """Equal to TOL, NaN only where the reference is NaN."""
    return all((math.isnan(w) and math.isnan(g)) or (not math.isnan(g) and abs(g - w) <= TOL)
               for g, w in zip(got, want, strict=True))


WILSON_CASES = [(7, 40), (3, 5), (1, 1000), (999, 1000), (123_456, 1_000_000), (50, 100),
                (0, 1), (0, 10), (0, 5000),  # no successes: the low bound is exactly 0
                (1, 1), (10, 10), (5000, 5000),  # all successes: the high bound is exactly 1
                (0, 0), (3, 0), (5, 3), (-1, 10)]  # no proportion: NaN


@pytest.mark.parametrize("x, n", WILSON_CASES)
def test_wilson_equals_the_old_formula(x, n):
    got, want = wilson(x, n), old_wilson(x, n)
    assert same(got, want), (got, want)
    if x == 0 and n > 0:
        assert got[0] == 0.0
    if x == n and n > 0:
        assert got[1] == 1.0


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.2])
def test_wilson_at_other_levels_equals_the_old_formula_at_the_matching_quantile(alpha):
    z = NormalDist().inv_cdf(1 - alpha / 2)
    for x, n in WILSON_CASES:
        assert same(wilson(x, n, alpha), old_wilson(x, n, z)), (x, n, alpha)


def test_wilson_arrays_equal_the_old_vectorised_formula_row_by_row():
    x = np.array([c[0] for c in WILSON_CASES])
    n = np.array([c[1] for c in WILSON_CASES])
    (low, high), (old_low, old_high) = wilson_arrays(x, n), old_wilson_arrays(x, n)
    for i in range(len(x)):
        assert same((low[i], high[i]), (old_low[i], old_high[i])), WILSON_CASES[i]
    empty_low, empty_high = wilson_arrays(np.array([]), np.array([]))
    assert empty_low.shape == empty_high.shape == (0,)


def test_dashboard_rate_columns_carry_the_old_intervals():
    """add_rates is what every dashboard table goes through: a group without impressions and one with more
    clicks than impressions get no CTR interval, the others the old bounds."""
    df = add_rates(pd.DataFrame({"impressions": [40, 0, 3, 10, 10], "clicks": [7, 0, 5, 0, 10],
                                 "carts": [2, 0, 1, 0, 4], "purchases": [1, 0, 0, 0, 4]}))
    for row in df.itertuples():
        assert same((row.ctr_low, row.ctr_high), old_wilson(row.clicks, row.impressions))
        assert same((row.cart_rate_low, row.cart_rate_high), old_wilson(row.carts, row.clicks))
        assert same((row.conversion_impression_low, row.conversion_impression_high),
                    old_wilson(row.purchases, row.impressions))


TWO_PROPORTION_CASES = [
    (40, 200, 20, 200), (52, 1000, 50, 1000), (20, 200, 40, 200), (12_345, 100_000, 12_000, 100_000),
    (300, 1000, 100, 1000),  # p ≈ 1e-24: the tail must match too, not only its absolute size
    (3, 7, 1, 900),  # unequal groups
    (0, 50, 5, 50), (5, 50, 0, 50),  # one group without successes
    (50, 50, 45, 50), (45, 50, 50, 50),  # one group all successes
    (0, 100, 0, 100), (100, 100, 100, 100), (0, 10, 0, 300),  # pooled rate 0 or 1: identical, z = 0, p = 1
    (1, 0, 1, 10), (1, 10, 1, 0), (11, 10, 1, 10), (5, 10, -1, 10),  # no comparison: NaN
]


@pytest.mark.parametrize("x1, n1, x0, n0", TWO_PROPORTION_CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
def test_two_proportion_equals_the_old_formulas(x1, n1, x0, n0, alpha):
    c = two_proportion(x1, n1, x0, n0, alpha)
    want = old_two_proportion(x1, n1, x0, n0, alpha)
    got = (c.diff, c.low, c.high, c.z, c.p_value)
    assert same(got, want), (got, want)
    if not math.isnan(want[4]):
        assert c.p_value == pytest.approx(want[4], rel=TOL, abs=0.0)
        assert c.significant(alpha) == (want[4] < alpha)
