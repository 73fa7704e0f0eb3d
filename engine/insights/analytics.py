"""Dashboard numbers from the event log: rates with 95% Wilson intervals, funnels, series, coverage.

Every query is one SQL GROUP BY over `events` (the covering indexes in events_schema keep it fast at millions of
rows on SQLite); pandas only pivots and divides the few grouped rows. Results are DataFrames because the
console plots them and offers them as CSV downloads.

Rates: CTR = clicks/impressions, cart rate = carts/clicks, conversion_click = purchases/clicks,
conversion_impression = purchases/impressions. A rate with a zero denominator is NaN; its interval is NaN too,
as it is when the numerator exceeds the denominator (imported logs may hold clicks without impressions).
Intervals come from statsmodels' `proportion_confint(method="wilson")`.

Strategy names: events keep the name of the strategy that served them, and a strategy may since have been
renamed or deleted. Such events are never dropped: given the config's names (`known_strategies`), the functions
that group by strategy show a logged name the config no longer has as "name (retired)" (`strategy_labels`).
No old name is mapped onto a current strategy: the simulator's former names (similar, diverse, margin) were
never strategies of any config, so their events show as "similar (retired)" and so on, like any other retired
name. (A config strategy may not hold a space or parentheses, so a label never collides with a live name.)

Popularity and trending live in engine.insights.popularity.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
from sqlalchemy import and_, case, func, literal, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow, day_number
from engine.catalog.models import Product, VectorSync
from engine.errors import ValidationError
from engine.insights.events import EVENT_KINDS, to_utc_naive
from engine.insights.popularity import top_n

if TYPE_CHECKING:
    import pandas as pd


def _pandas() -> Any:
    """pandas, and statsmodels below, load with the first frame or interval built (together over a second):
    `python -m engine stats` needs neither (`group_counts`). Names resolved at run time, not imports inside a
    function: tests/test_architecture.py."""
    return importlib.import_module("pandas")

COUNT_COLUMNS = {"impression": "impressions", "click": "clicks", "cart_add": "carts", "purchase": "purchases"}
RATES = {  # name: (numerator, denominator)
    "ctr": ("clicks", "impressions"),
    "cart_rate": ("carts", "clicks"),
    "conversion_click": ("purchases", "clicks"),
    "conversion_impression": ("purchases", "impressions"),
}
RETIRED = " (retired)"
DIMENSIONS = {"algorithm": EventRow.algorithm, "strategy": EventRow.strategy, "experiment": EventRow.experiment,
              "variant": EventRow.variant, "position": EventRow.position}


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


# ---- scope ----------------------------------------------------------------------------------------------------

def _bound(v: date | datetime | None, name: str) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return to_utc_naive(v)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    raise ValidationError(f"{name} must be a date or datetime, got {v!r}")


@dataclass(frozen=True)
class Scope:
    """Which events a dashboard query reads. Dates are whole days (end day included); datetimes are instants
    (both ends included). `simulated`: None = all, True = simulator only, False = real traffic only."""

    start: date | datetime | None = None
    end: date | datetime | None = None
    algorithms: Sequence[str] = ()
    strategies: Sequence[str] = ()
    experiment: str | None = None
    simulated: bool | None = None

    def conditions(self) -> list[Any]:
        """SQL conditions; whole-day bounds become ranges on the indexed `day` column."""
        lo = _bound(self.start, "start")
        hi = _bound(self.end, "end")
        if lo is not None and hi is not None:
            end_is_day = not isinstance(self.end, datetime)
            if (lo.date() > hi.date()) if end_is_day else lo > hi:
                raise ValidationError(f"date range is inverted: start {self.start} is after end {self.end}")
        conds: list[Any] = []
        if lo is not None:
            conds.append(EventRow.day >= day_number(lo))
            if isinstance(self.start, datetime):
                conds.append(EventRow.ts >= lo)
        if hi is not None:
            conds.append(EventRow.day <= day_number(hi))
            if isinstance(self.end, datetime):
                conds.append(EventRow.ts <= hi)
        for name, col in (("algorithms", EventRow.algorithm), ("strategies", EventRow.strategy)):
            values = getattr(self, name)
            if isinstance(values, str):
                values = [values]
            values = list(values or ())
            if any(not isinstance(v, str) or not v for v in values):
                raise ValidationError(f"{name} must be a list of names, got {values!r}")
            if values:
                conds.append(col.in_(values))
        if self.experiment is not None:
            conds.append(EventRow.experiment == self.experiment)
        if self.simulated is not None:
            conds.append(EventRow.simulated == (1 if self.simulated else 0))
        return conds


def _dims(by: str | Sequence[str]) -> list[str]:
    dims = [by] if isinstance(by, str) else list(by)
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or not dims:
        raise ValidationError(f"cannot group by {bad or dims!r}: use any of {', '.join(DIMENSIONS)}")
    if len(set(dims)) != len(dims):
        raise ValidationError(f"grouping repeats a dimension: {dims!r}")
    return dims


_COLUMNS = {**DIMENSIONS, "day": EventRow.day, "kind": EventRow.kind}
# Column orders of the covering indexes in events_schema: a GROUP BY over a prefix of one streams from the index.
_INDEX_ORDERS = (("algorithm", "strategy", "kind", "position"), ("day", "algorithm", "strategy", "kind"),
                 ("experiment", "variant", "kind"))


def _grouping(names: Sequence[str]) -> list[str]:
    """The shortest index prefix holding every wanted column and `kind`, else the wanted columns themselves."""
    need = set(names) | {"kind"}
    for order in _INDEX_ORDERS:
        if need <= set(order):
            return list(order[:max(order.index(n) for n in need) + 1])
    return [*names, "kind"]


def group_counts(db: Database, names: Sequence[str], scope: Scope | None = None, extra: Sequence[Any] = ()
                 ) -> dict[tuple, dict[str, int]]:
    """Event counts per kind for each combination of the named columns: {values: {count column: n}}. Groups by
    an index prefix (finer than asked) and sums the surplus here, which is far cheaper than letting SQLite sort a
    million rows."""
    conds = (scope or Scope()).conditions() + list(extra)
    group = _grouping(names)
    exprs = [_COLUMNS[g] for g in group]
    with db.engine.connect() as conn:
        rows = conn.execute(select(*exprs, func.count()).where(*conds).group_by(*exprs)).all()
    at, k = [group.index(n) for n in names], group.index("kind")
    counts: dict[tuple, dict[str, int]] = {}
    for r in rows:
        col = COUNT_COLUMNS.get(r[k])
        if col is not None:
            counts.setdefault(tuple(r[i] for i in at), dict.fromkeys(COUNT_COLUMNS.values(), 0))[col] += int(r[-1])
    return counts


def grouped_counts(db: Database, names: Sequence[str], scope: Scope | None, extra: Sequence[Any] = ()
                   ) -> pd.DataFrame:
    """`group_counts` as a frame: one row per combination of the named columns, with the four count columns."""
    counts = group_counts(db, names, scope, extra)
    df = _pandas().DataFrame.from_records([dict(zip(names, key)) | c for key, c in counts.items()],
                                          columns=[*names, *COUNT_COLUMNS.values()])
    for c in COUNT_COLUMNS.values():
        df[c] = df[c].astype("int64")
    return df.sort_values(list(names), na_position="last", kind="stable").reset_index(drop=True)


# ---- dashboard queries ----------------------------------------------------------------------------------------

def metrics(db: Database, by: str | Sequence[str] = "algorithm", scope: Scope | None = None,
            known_strategies: Iterable[str] | None = None) -> pd.DataFrame:
    """Counts and rates per algorithm / strategy / experiment / variant (any combination); NULL groups are
    events that came from no recommendation list (e.g. imported browsing). With `known_strategies` (the
    config's names) a strategy the config no longer has is labelled retired."""
    dims = _dims(by)
    return label_strategies(add_rates(grouped_counts(db, dims, scope)), known_strategies)


def ctr_by_position(db: Database, scope: Scope | None = None, by_algorithm: bool = False,
                    max_position: int | None = None) -> pd.DataFrame:
    """CTR per slot (0 = first): the position-bias curve of the lists shown."""
    # no condition on kind here: SQLite would seek ix_events_session by kind and then sort every row
    extra: list[Any] = [EventRow.position.is_not(None)]
    if max_position is not None:
        if isinstance(max_position, bool) or not isinstance(max_position, int) or max_position < 0:
            raise ValidationError(f"max_position must be a whole number ≥ 0, got {max_position!r}")
        extra.append(EventRow.position <= max_position)
    df = grouped_counts(db, (["algorithm"] if by_algorithm else []) + ["position"], scope, extra)
    df = df.drop(columns=["carts", "purchases"])
    return add_rates(df, ("ctr",))


def daily(db: Database, scope: Scope | None = None, by: str | None = None,
          known_strategies: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per UTC day (and per `by` value): counts and rates, for the time-series charts; retired
    strategies labelled as in `metrics`."""
    names = ["day"] + ([_dims(by)[0]] if by is not None else [])
    df = grouped_counts(db, names, scope)
    df["day"] = _pandas().to_datetime(df["day"].astype("int64"), unit="D")
    return label_strategies(add_rates(df), known_strategies)


def funnel(db: Database, scope: Scope | None = None) -> pd.DataFrame:
    """Events and distinct sessions at each stage, with each stage's rate from the one before (by sessions)."""
    q = (select(EventRow.kind, func.count(), func.count(func.distinct(EventRow.session_id)))
         .where(*(scope or Scope()).conditions()).group_by(EventRow.kind))
    with db.engine.connect() as conn:
        got = {k: (int(n), int(s)) for k, n, s in conn.execute(q)}
    df = _pandas().DataFrame({"stage": list(EVENT_KINDS),
                              "events": [got.get(k, (0, 0))[0] for k in EVENT_KINDS],
                              "sessions": [got.get(k, (0, 0))[1] for k in EVENT_KINDS]})
    prev = df["sessions"].shift(1).to_numpy(dtype=float)
    cur = df["sessions"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["rate_from_previous"] = np.where(prev > 0, cur / np.where(prev > 0, prev, 1.0), np.nan)
    return df


TOP_BY = ("impressions", "clicks", "carts", "purchases", "ctr")


def top_products(db: Database, n: int = 20, by: str = "purchases", scope: Scope | None = None,
                 min_impressions: int = 0) -> pd.DataFrame:
    """The n products with most `by` (ties: lower id first), with catalog titles where the id is in the catalog.
    `min_impressions` keeps a product shown once and clicked once from topping a CTR ranking."""
    if by not in TOP_BY:
        raise ValidationError(f"cannot rank products by {by!r}: use one of {', '.join(TOP_BY)}")
    n = top_n(n)
    if isinstance(min_impressions, bool) or not isinstance(min_impressions, int) or min_impressions < 0:
        raise ValidationError(f"min_impressions must be a whole number ≥ 0, got {min_impressions!r}")
    sums = {col: func.sum(case((EventRow.kind == kind, 1), else_=0)).label(col)
            for kind, col in COUNT_COLUMNS.items()}
    order = sums[by] if by != "ctr" else (
        sums["clicks"] * literal(1.0) / func.nullif(sums["impressions"], 0))
    q = (select(EventRow.product_id, *sums.values()).where(*(scope or Scope()).conditions())
         .group_by(EventRow.product_id).having(sums["impressions"] >= min_impressions)
         .order_by(order.desc().nulls_last() if by == "ctr" else order.desc(), EventRow.product_id).limit(n))
    with db.engine.connect() as conn:
        rows = conn.execute(q).all()
        ids = [r[0] for r in rows]
        titles = dict(conn.execute(select(Product.id, Product.title).where(Product.id.in_(ids))).all()) if ids else {}
    df = _pandas().DataFrame.from_records([tuple(r) for r in rows], columns=["product_id", *COUNT_COLUMNS.values()])
    df.insert(1, "title", [titles.get(i) for i in ids])
    for c in ["product_id", *COUNT_COLUMNS.values()]:
        df[c] = df[c].astype("int64")
    return add_rates(df, ("ctr", "conversion_click"))



# ---- coverage -------------------------------------------------------------------------------------------------

@dataclass
class Coverage:
    """How much of the catalog the vector index covers (from vector_sync, kept by the indexer)."""

    products: int
    active: int
    with_text: int
    with_image: int
    with_combined: int

    def as_frame(self) -> pd.DataFrame:
        return _pandas().DataFrame({"measure": ["products", "active", "text vectors", "image vectors",
                                                "combined vectors"],
                                    "count": [self.products, self.active, self.with_text, self.with_image,
                                              self.with_combined]})


def coverage(db: Database) -> Coverage:
    """Every synced product has a text and a combined vector (text-only padded when it has no photo); an image
    vector only with a usable photo."""
    with db.engine.connect() as conn:
        products, active = conn.execute(
            select(func.count(), func.coalesce(func.sum(case((Product.is_active.is_(True), 1), else_=0)), 0))
            .select_from(Product)).one()
        synced, images = conn.execute(
            select(func.count(), func.coalesce(func.sum(case(
                (and_(VectorSync.has_image.is_(True), VectorSync.image_encoder.is_not(None)), 1), else_=0)), 0))
            .select_from(VectorSync)).one()
    return Coverage(int(products), int(active), int(synced), int(images), int(synced))


__all__ = ["Coverage", "RETIRED", "Scope", "add_rates", "coverage", "ctr_by_position", "daily", "funnel",
           "group_counts", "grouped_counts", "label_strategies", "logged_strategies", "metrics", "strategy_labels",
           "top_products", "wilson", "wilson_arrays", "TOP_BY"]
