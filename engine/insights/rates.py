"""Rates with their 95% Wilson intervals, and the display names of strategies, for engine.insights.analytics
(which re-exports every name here: callers keep using analytics.wilson, analytics.strategy_labels, ...).

Intervals come from statsmodels' `proportion_confint(method="wilson")`; strategy labels follow the rule
documented in engine.insights.analytics (a logged name the config no longer has is "name (retired)").
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

RATES = {  # name: (numerator, denominator)
    "ctr": ("clicks", "impressions"),
    "cart_rate": ("carts", "clicks"),
    "conversion_click": ("purchases", "clicks"),
    "conversion_impression": ("purchases", "impressions"),
}
RETIRED = " (retired)"


# ---- intervals ------------------------------------------------------------------------------------------------

def wilson(successes: int, trials: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval: unlike p ± z·se it stays inside [0, 1] and is sound for small counts and p near 0.
    NaN without trials or with more successes than trials, where no proportion exists."""
    low, high = wilson_arrays(np.array([successes]), np.array([trials]), alpha)
    return float(low[0]), float(high[0])


def wilson_arrays(successes: np.ndarray, trials: np.ndarray, alpha: float = 0.05
                  ) -> tuple[np.ndarray, np.ndarray]:
    """`wilson` over DataFrame columns. Rows without a proportion go to statsmodels as 0 of 1 (so it never
    divides by zero) and come back NaN; 0 and all successes get the exact bounds 0 and 1, where the formula
    would leave rounding dust."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    ok = (n > 0) & (x >= 0) & (x <= n)
    proportion_confint = importlib.import_module("statsmodels.stats.proportion").proportion_confint
    low, high = proportion_confint(np.where(ok, x, 0.0), np.where(ok, n, 1.0), alpha=alpha, method="wilson")
    low = np.where(x == 0, 0.0, low)
    high = np.where(x == n, 1.0, high)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def add_rates(df: pd.DataFrame, rates: Sequence[str] = tuple(RATES)) -> pd.DataFrame:
    """Append each rate and its Wilson interval (name, name_low, name_high) to a frame of counts."""
    for name in rates:
        num, den = RATES[name]
        x, n = df[num].to_numpy(dtype=float), df[den].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[name] = np.where(n > 0, x / np.where(n > 0, n, 1.0), np.nan)
        df[f"{name}_low"], df[f"{name}_high"] = wilson_arrays(x, n)
    return df


# ---- strategy names -------------------------------------------------------------------------------------------

def strategy_labels(names_in_events: Iterable[str | None], known_names: Iterable[str]) -> dict[str, str]:
    """The display label of each strategy name found in the log: the name itself while the config has it,
    "name (retired)" once it does not. Events without a strategy (None) have no label."""
    known = _known(known_names)
    return {n: n if n in known else n + RETIRED for n in names_in_events if n is not None}


def _known(names: Iterable[str]) -> set[str]:
    if isinstance(names, str):
        raise ValidationError(f"known strategies must be a list of names, got the text {names!r}")
    known = set(names)
    if any(not isinstance(n, str) for n in known):
        raise ValidationError(f"known strategies must be names, got {sorted(map(repr, known))}")
    return known


def label_strategies(df: pd.DataFrame, known_strategies: Iterable[str] | None) -> pd.DataFrame:
    """`df` with its strategy column shown as strategy_labels gives (unchanged without known_strategies)."""
    if known_strategies is None or "strategy" not in df.columns:
        return df
    labels = strategy_labels(df["strategy"].dropna().unique().tolist(), known_strategies)
    df["strategy"] = [labels.get(v, v) if isinstance(v, str) else v for v in df["strategy"]]
    return df


def logged_strategies(db: Database) -> list[str]:
    """Every strategy name in the log, sorted (retired ones included)."""
    with db.engine.connect() as conn:
        return list(conn.execute(select(EventRow.strategy).where(EventRow.strategy.is_not(None))
                                 .group_by(EventRow.strategy).order_by(EventRow.strategy)).scalars())
