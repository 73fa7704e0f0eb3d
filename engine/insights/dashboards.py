"""View models of the console's Analytics and Experiments pages, built on engine.insights.analytics and engine.insights.experiments.

The pages draw; this module decides what they draw: the scope a sidebar choice means, tidy frames the plotly
charts read directly (error bars as plus / minus columns), the CSV bytes of every table, the week's answer to
"which algorithm has the best CTR and conversion", and an experiment's verdict in words.

Conversion here is purchases per impression (analytics' `conversion_impression`), the same rate the
experiments compare, so the dashboards and the A/B verdicts speak of one number. Impressions are the reported
tiles of a list, else its served rows; every rate table carries `denominator` saying which (analytics).

Strategy names: given the config's names (`known_strategies`), a strategy the log or an experiment names and
the config no longer has is shown as "name (retired)" (analytics.strategy_labels, which documents the choice)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Sequence

import pandas as pd
from sqlalchemy import func, select

from engine.insights.analytics import Scope, ctr_by_position, daily, metrics, strategy_labels
from engine.catalog.db import Database, distinct_values
from engine.errors import ValidationError
from engine.catalog.events import EPOCH, EventRow
from engine.insights.experiments import Experiment, ExperimentResults

RATES = {"ctr": "CTR", "conversion_impression": "Conversion"}  # analytics column: label
RATE_HELP = {"ctr": "clicks per impression", "conversion_impression": "purchases per impression"}
EXPERIMENT_RATES = {"ctr": "CTR", "conversion": "Conversion"}  # experiments.results column: label
NOUNS = {"CTR": "CTR", "Conversion": "conversion"}  # the labels inside a sentence
WEEK_DAYS = 7
RATE_COLUMNS = ["impressions", "clicks", "carts", "purchases", "ctr", "ctr_low", "ctr_high",
                "conversion_impression", "conversion_impression_low", "conversion_impression_high",
                "served", "reported", "denominator", "revenue"]  # denominator: what `impressions` counts
VARIANT_NAMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_VARIANTS = 6


# ---- scope ----------------------------------------------------------------------------------------------------

def _day(n: int | None) -> date | None:
    return None if n is None else (EPOCH + timedelta(days=int(n))).date()


def span(db: Database, scope: Scope | None = None) -> tuple[date, date] | None:
    """The first and last UTC day with events in `scope` (all events without one), or None when there are none."""
    conditions = (scope or Scope()).conditions()
    # Two scalar subqueries, not min() and max() in one SELECT: each alone is one step down the day index, both
    # together made SQLite scan every event (107 ms at 675,000 events, against well under a millisecond).
    lo_q, hi_q = (select(f(EventRow.day)).where(*conditions).scalar_subquery() for f in (func.min, func.max))
    with db.engine.connect() as conn:
        lo, hi = conn.execute(select(lo_q, hi_q)).one()
    return None if lo is None else (_day(lo), _day(hi))  # type: ignore[return-value]


def algorithms(db: Database) -> list[str]:
    """Every algorithm named in the log, sorted: the choices of the algorithm filter."""
    with db.engine.connect() as conn:
        return distinct_values(conn, EventRow.algorithm)


def make_scope(dates: Any, algorithms: Sequence[str] = (), include_simulated: bool = True) -> Scope:
    """The Scope of the sidebar: a (start, end) date range (both days included), the algorithms to keep (none
    chosen = all) and whether simulated traffic counts. An unfinished or inverted range is a ValidationError."""
    if isinstance(dates, (date, datetime)):
        dates = (dates,)
    dates = tuple(d for d in (dates or ()) if d is not None)
    if len(dates) == 0:
        raise ValidationError("pick a date range: a start and an end date")
    if len(dates) == 1:
        raise ValidationError(f"pick an end date too: the range starts on {dates[0]} and has no end yet")
    if len(dates) != 2:
        raise ValidationError(f"a date range has a start and an end, got {len(dates)} dates")
    start, end = dates
    if start > end:
        raise ValidationError(f"the date range is inverted: it starts on {start}, after its end on {end}")
    scope = Scope(start=start, end=end, algorithms=tuple(algorithms),
                  simulated=None if include_simulated else False)
    scope.conditions()  # validates the names too
    return scope


# ---- rates and charts -----------------------------------------------------------------------------------------

def rate_table(db: Database, by: str, scope: Scope | None = None,
               known_strategies: Iterable[str] | None = None) -> pd.DataFrame:
    """Counts, CTR and conversion with their 95% Wilson intervals per `by` (algorithm, strategy, ...). Events
    that came from no recommendation list (no `by` value) are left out: they have no list to rate. With
    `known_strategies`, strategies the config no longer has are labelled retired."""
    df = metrics(db, by, scope, known_strategies)
    df = df[df[by].notna()]
    return df[[by, *RATE_COLUMNS]].reset_index(drop=True)


def error_bars(frame: pd.DataFrame, x: str, rate: str) -> pd.DataFrame:
    """One row per `x` with a finite `rate`: value, its interval (`rate`_low, `rate`_high) and the bar's plus /
    minus error lengths."""
    df = frame[frame[rate].notna()]
    value = df[rate].to_numpy(dtype=float)
    low, high = df[f"{rate}_low"].to_numpy(dtype=float), df[f"{rate}_high"].to_numpy(dtype=float)
    return pd.DataFrame({x: df[x].to_numpy(), "value": value, "low": low, "high": high,
                         "plus": high - value, "minus": value - low})


def position_curve(db: Database, scope: Scope | None = None) -> pd.DataFrame:
    """CTR per list position (0 = first) and algorithm, with its interval, for the position-bias chart."""
    df = ctr_by_position(db, scope, by_algorithm=True)
    return df[df["algorithm"].notna()].reset_index(drop=True)


def daily_trend(db: Database, scope: Scope | None = None) -> pd.DataFrame:
    """Counts, CTR and conversion per UTC day and algorithm, for the trend lines."""
    df = daily(db, scope, by="algorithm")
    df = df[df["algorithm"].notna()]
    return df[["day", "algorithm", *RATE_COLUMNS]].reset_index(drop=True)


_PERCENT_STEMS = ("ctr", "cart_rate", "conversion_click", "conversion_impression", "conversion")
_PERCENT_SUFFIXES = ("", "_low", "_high", "_diff", "_diff_low", "_diff_high")
_PERCENT_NAMES = {stem + suffix for stem in _PERCENT_STEMS for suffix in _PERCENT_SUFFIXES} | {
    "rate_from_previous", "share"}


def percent_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a table that hold rates, their intervals, rate differences or traffic shares: the ones
    shown as percentages (p-values and counts are not)."""
    return [c for c in frame.columns if c in _PERCENT_NAMES]


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as the CSV its download button offers (UTF-8, header row, no index)."""
    return frame.to_csv(index=False).encode("utf-8")


# ---- the week's answer ----------------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@dataclass(frozen=True)
class Standing:
    """An algorithm's rate over a period, with its 95% Wilson interval."""

    algorithm: str
    rate: float
    low: float
    high: float
    impressions: int

    def describe(self) -> str:
        return f"{_pct(self.rate)} (95% CI {_pct(self.low)}–{_pct(self.high)})"


@dataclass(frozen=True)
class Race:
    """The best algorithm on one rate and the runner-up; `overlaps`: their intervals overlap, so the lead may be
    chance."""

    rate: str  # "ctr" or "conversion_impression"
    best: Standing
    runner_up: Standing | None

    @property
    def overlaps(self) -> bool | None:
        if self.runner_up is None:
            return None
        return self.best.low <= self.runner_up.high

    def sentence(self) -> str:
        label = NOUNS[RATES[self.rate]]
        text = f"Best {label}: **{self.best.algorithm}**, {self.best.describe()}"
        if self.runner_up is None:
            return text + " — the only algorithm with impressions in this period."
        text += f", ahead of {self.runner_up.algorithm} at {self.runner_up.describe()}"
        if self.overlaps:
            return text + ". The intervals overlap: the lead may be chance; more traffic will tell."
        return text + ". The intervals do not overlap: a clear lead."


def races(db: Database, scope: Scope | None = None) -> list[Race]:
    """The best algorithm by CTR and by conversion in `scope`, each with its runner-up (Wilson intervals); a rate
    no algorithm has impressions for is left out."""
    df = rate_table(db, "algorithm", scope or Scope())
    out = []
    for rate in RATES:
        rows = df[df[rate].notna()].sort_values([rate, "algorithm"], ascending=[False, True], kind="stable")
        standings = [Standing(str(r["algorithm"]), float(r[rate]), float(r[f"{rate}_low"]),
                              float(r[f"{rate}_high"]), int(r["impressions"])) for r in rows.to_dict("records")]
        if standings:
            out.append(Race(rate, standings[0], standings[1] if len(standings) > 1 else None))
    return out


# ---- experiments ----------------------------------------------------------------------------------------------

def variant_names(n: int) -> list[str]:
    """Default names of n variants: A, B, C, ..."""
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_VARIANTS:
        raise ValidationError(f"an experiment has 2 to {MAX_VARIANTS} variants, got {n!r}")
    return list(VARIANT_NAMES[:n])


def even_shares(n: int) -> list[float]:
    """n traffic shares in hundredths that sum to exactly 1 (the first ones take the remainder)."""
    variant_names(n)
    base, extra = divmod(100, n)
    return [(base + (1 if i < extra else 0)) / 100 for i in range(n)]


def experiment_table(experiments: Sequence[Experiment], known_strategies: Iterable[str] | None = None
                     ) -> pd.DataFrame:
    """The experiments list: one row each, variants as "A: balanced 50%" ("A: similar (retired) 50%" for a
    strategy the config, given by `known_strategies`, no longer has)."""
    served = [v.config for e in experiments for v in e.variants]
    labels = strategy_labels(served, known_strategies) if known_strategies is not None else {}
    rows = [{"name": e.name, "status": e.status, "control": e.control, "winner": e.winner,
             "variants": " · ".join(f"{v.name}: {labels.get(v.config, v.config)} {v.share:.0%}" for v in e.variants),
             "created": e.created_at, "stopped": e.stopped_at, "simulated": e.simulated,
             "description": e.description} for e in experiments]
    return pd.DataFrame(rows, columns=["name", "status", "control", "winner", "variants", "created", "stopped",
                                       "simulated", "description"])


def variant_bars(res: ExperimentResults) -> pd.DataFrame:
    """CTR and conversion of each variant with its Wilson interval, long format: variant, metric, value, low,
    high, plus, minus (variants without impressions are left out)."""
    parts = []
    for col, label in EXPERIMENT_RATES.items():
        bars = error_bars(res.table, "variant", col)
        bars.insert(1, "metric", label)
        parts.append(bars)
    return pd.concat(parts, ignore_index=True)


__all__ = ["Race", "Standing", "algorithms", "csv_bytes", "daily_trend", "error_bars",
           "even_shares", "experiment_table", "make_scope", "percent_columns", "position_curve", "races", "rate_table",
           "span", "variant_bars", "variant_names"]
