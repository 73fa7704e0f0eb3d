"""Dashboard numbers from the event log: rates with 95% Wilson intervals, funnels, series, coverage.

Every query is one SQL GROUP BY over `events` (the covering indexes in events_schema keep it fast at millions of
rows on SQLite); pandas only pivots and divides the few grouped rows. Results are DataFrames because the
console plots them and offers them as CSV downloads.

Rates: CTR = clicks/impressions, cart rate = carts/clicks, conversion_click = purchases/clicks,
conversion_impression = purchases/impressions.

Impressions (the denominator): the service logs a `served` row for every item of every list it answers; a client
that knows what the shopper actually saw (the storefront widget) reports `impression` rows naming the list's
request id. A list's impressions are its reported `impression` rows when it has any, else its `served` rows —
so `impressions` = reported + served rows of lists without a report, and each frame says which it divided by
in `denominator`: "impression" (every list reported), "served" (none did) or "impression+served" (both kinds
of list). Rows of kind `impression` the service itself wrote before `served` existed were relabelled `served`
when the database was upgraded (engine.catalog.events.upgrade_served).

Money: a priced purchase adds price × quantity (1 when absent) to `revenue`; purchases without a price (the OTTO
sample) count as purchases but not as revenue (`purchases` − `priced_purchases`). Revenue views live in
engine.insights.revenue.

Scale: counts come from the daily rollups (engine.insights.rollups) for complete days and for today up to its
watermark, and from the raw events for the rest (today's last minutes, dirty days). A rate with a zero denominator is NaN; its interval is NaN too,
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
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
from sqlalchemy import and_, case, func, literal, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow, day_number
from engine.catalog.models import Product, VectorSync
from engine.errors import ValidationError
from engine.insights import rollups
from engine.insights.events import to_utc_naive
from engine.insights.period import notes
from engine.insights.rates import (RATES, RETIRED, add_rates, label_strategies, logged_strategies,  # noqa: F401
                                   strategy_labels, wilson, wilson_arrays)
from engine.insights.popularity import top_n

if TYPE_CHECKING:
    import pandas as pd


def _pandas() -> Any:
    """pandas, and statsmodels below, load with the first frame or interval built (together over a second):
    `python -m engine stats` needs neither (`group_counts`). Names resolved at run time, not imports inside a
    function: tests/test_architecture.py."""
    return importlib.import_module("pandas")

COUNT_COLUMNS = {"served": "served", "impression": "reported", "click": "clicks", "cart_add": "carts",
                 "purchase": "purchases"}  # kind: its count column
# every count column of a group: `impressions` is the denominator (reported, else served; module docstring)
COUNTS = ("served", "reported", "impressions", "clicks", "carts", "purchases", "priced_purchases", "units")
MONEY = ("revenue",)
DIMENSIONS = {"algorithm": EventRow.algorithm, "strategy": EventRow.strategy, "experiment": EventRow.experiment,
              "variant": EventRow.variant, "position": EventRow.position, "config_version": EventRow.config_version}
DENOMINATORS = ("impression", "served", "impression+served")


def denominator(reported: int, unreported_served: int) -> str | None:
    """Which rows a group's impressions are: client-reported, served, or both kinds of list (None: neither)."""
    if reported and unreported_served:
        return DENOMINATORS[2]
    return DENOMINATORS[0] if reported else DENOMINATORS[1] if unreported_served else None


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

    @property
    def sub_day(self) -> bool:
        """True when a bound is an instant: only the raw events can answer (the rollups hold whole days)."""
        return isinstance(self.start, datetime) or isinstance(self.end, datetime)

    def conditions(self, table: Any = EventRow) -> list[Any]:
        """SQL conditions on `table` (the events, or the daily rollup with the same column names); whole-day
        bounds become ranges on the indexed `day` column."""
        lo = _bound(self.start, "start")
        hi = _bound(self.end, "end")
        if lo is not None and hi is not None:
            end_is_day = not isinstance(self.end, datetime)
            if (lo.date() > hi.date()) if end_is_day else lo > hi:
                raise ValidationError(f"date range is inverted: start {self.start} is after end {self.end}")
        conds: list[Any] = []
        if lo is not None:
            conds.append(table.day >= day_number(lo))
            if isinstance(self.start, datetime):
                conds.append(table.ts >= lo)
        if hi is not None:
            conds.append(table.day <= day_number(hi))
            if isinstance(self.end, datetime):
                conds.append(table.ts <= hi)
        for name, col in (("algorithms", "algorithm"), ("strategies", "strategy")):
            values = getattr(self, name)
            if isinstance(values, str):
                values = [values]
            values = list(values or ())
            if any(not isinstance(v, str) or not v for v in values):
                raise ValidationError(f"{name} must be a list of names, got {values!r}")
            if values:
                conds.append(getattr(table, col).in_(values))
        if self.experiment is not None:
            conds.append(table.experiment == self.experiment)
        if self.simulated is not None:
            conds.append(table.simulated == (1 if self.simulated else 0))
        return conds


def _dims(by: str | Sequence[str]) -> list[str]:
    dims = [by] if isinstance(by, str) else list(by)
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or not dims:
        raise ValidationError(f"cannot group by {bad or dims!r}: use any of {', '.join(DIMENSIONS)}")
    if len(set(dims)) != len(dims):
        raise ValidationError(f"grouping repeats a dimension: {dims!r}")
    return dims


Extra = Callable[[Any], list[Any]]  # more conditions, for the events table or the rollup (same column names)


def _no_extra(_: Any) -> list[Any]:
    return []


def empty_counts() -> dict[str, Any]:
    return {**dict.fromkeys(COUNTS, 0), "revenue": 0.0, "denominator": None}


def group_counts(db: Database, names: Sequence[str], scope: Scope | None = None, extra: Extra = _no_extra,
                 refresh: bool = True) -> dict[tuple, dict[str, Any]]:
    """Counts per combination of the named columns (any of DIMENSIONS, `day`): {values: {column: n}} with the
    COUNTS columns, `revenue` and `denominator`. Complete days come from the daily rollup (brought up to date
    first unless refresh=False), the others from the raw events."""
    scope = scope or Scope()
    for n in names:
        if n not in DIMENSIONS and n != "day":
            raise ValidationError(f"cannot group by {n!r}: use any of {', '.join(DIMENSIONS)} or day")
    scope.conditions()  # validates before anything is written
    if refresh:
        rollups.refresh(db, wait=False)
    rows = rollups.read(db, names, lambda t: scope.conditions(t) + extra(t), raw_only=scope.sub_day)
    counts: dict[tuple, dict[str, Any]] = {}
    unreported: dict[tuple, int] = {}
    k = len(names)
    for r in rows:
        col = COUNT_COLUMNS.get(r[k])
        if col is None:
            continue
        key = tuple(r[:k])
        c = counts.setdefault(key, empty_counts())
        n, unrep, priced, units, revenue = r[k + 1:]
        c[col] += int(n)
        unreported[key] = unreported.get(key, 0) + int(unrep)
        if col == "purchases":
            c["priced_purchases"] += int(priced)
            c["units"] += int(units)
            c["revenue"] += float(revenue)
    for key, c in counts.items():
        c["impressions"] = c["reported"] + unreported[key]
        c["denominator"] = denominator(c["reported"], unreported[key])
    return counts


def grouped_counts(db: Database, names: Sequence[str], scope: Scope | None, extra: Extra = _no_extra
                   ) -> pd.DataFrame:
    """`group_counts` as a frame: one row per combination of the named columns, with the count columns,
    revenue and the denominator."""
    counts = group_counts(db, names, scope, extra)
    df = _pandas().DataFrame.from_records([dict(zip(names, key)) | c for key, c in counts.items()],
                                          columns=[*names, *COUNTS, *MONEY, "denominator"])
    for c in COUNTS:
        df[c] = df[c].astype("int64")
    df["revenue"] = df["revenue"].astype("float64")
    df["denominator"] = df["denominator"].astype(object)
    return labelled(df.sort_values(list(names), na_position="last", kind="stable").reset_index(drop=True), db,
                    scope)


def labelled(df: pd.DataFrame, db: Database, scope: Scope | None) -> pd.DataFrame:
    """`df` with its period and the reasons its log may be incomplete in df.attrs ("period", "incomplete"; an
    empty list: complete), as every figure for a period carries them (engine.insights.period)."""
    scope = scope or Scope()
    df.attrs["period"] = {"start": None if scope.start is None else str(scope.start),
                          "end": None if scope.end is None else str(scope.end)}
    df.attrs["incomplete"] = notes(db, scope.start, scope.end)
    return df


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
    if max_position is not None:
        if isinstance(max_position, bool) or not isinstance(max_position, int) or max_position < 0:
            raise ValidationError(f"max_position must be a whole number ≥ 0, got {max_position!r}")

    def extra(t: Any) -> list[Any]:
        return [t.position.is_not(None)] + ([t.position <= max_position] if max_position is not None else [])

    df = grouped_counts(db, (["algorithm"] if by_algorithm else []) + ["position"], scope, extra)
    df = df.drop(columns=["carts", "purchases", "priced_purchases", "units", "revenue"])
    return add_rates(df, ("ctr",))


def daily(db: Database, scope: Scope | None = None, by: str | None = None,
          known_strategies: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per UTC day (and per `by` value): counts and rates, for the time-series charts; retired
    strategies labelled as in `metrics`."""
    names = ["day"] + ([_dims(by)[0]] if by is not None else [])
    df = grouped_counts(db, names, scope)
    df["day"] = _pandas().to_datetime(df["day"].astype("int64"), unit="D")
    return label_strategies(add_rates(df), known_strategies)


FUNNEL_STAGES = ("impression", "click", "cart_add", "purchase")


def _first_day(scope: Scope | None) -> int | None:
    """The first day a scope reads, bounding the search for its lists' impressions (never before the list)."""
    lo = _bound(scope.start, "start") if scope is not None else None
    return None if lo is None else day_number(lo)


def funnel(db: Database, scope: Scope | None = None) -> pd.DataFrame:
    """Events and distinct sessions at each stage, each stage's rate from the one before by sessions
    (`rate_from_previous`, the default view) and by events (`events_rate_from_previous`). The first stage is
    what shoppers were shown: reported impressions, else served rows (module docstring); a session was shown
    something when it has either. Over whole days of all algorithms the counts come from the rollups (events
    from the daily counts, sessions from the per-session rollup, a session counted once however many days it
    spans); a filter by algorithm, strategy or experiment, or an instant bound, reads the raw events."""
    scope = scope or Scope()
    if not (scope.sub_day or scope.algorithms or scope.strategies or scope.experiment is not None):
        c = group_counts(db, [], scope).get((), empty_counts())
        events = dict(zip(FUNNEL_STAGES, (c["impressions"], c["clicks"], c["carts"], c["purchases"])))
        reached = rollups.sessions(db, scope.conditions)
        got = {k: (events[k], s) for k, s in zip(FUNNEL_STAGES, reached.values())}
        return _funnel_frame(db, scope, got)
    listed = EventRow.kind.in_(("served", "impression"))
    stage = case((listed, literal("impression")), else_=EventRow.kind)
    unreported = rollups.unreported_served(since_day=_first_day(scope), dialect=db.engine.dialect.name)
    events = func.sum(case((EventRow.kind == "served", unreported), else_=1))
    q = (select(stage, events, func.count(func.distinct(EventRow.session_id)))
         .where(*scope.conditions()).group_by(stage))
    with db.engine.connect() as conn:
        got = {k: (int(n or 0), int(s)) for k, n, s in conn.execute(q)}
    return _funnel_frame(db, scope, got)


def _funnel_frame(db: Database, scope: Scope, got: dict[str, tuple[int, int]]) -> pd.DataFrame:
    df = _pandas().DataFrame({"stage": list(FUNNEL_STAGES),
                              "events": [got.get(k, (0, 0))[0] for k in FUNNEL_STAGES],
                              "sessions": [got.get(k, (0, 0))[1] for k in FUNNEL_STAGES]})
    for base, out in (("sessions", "rate_from_previous"), ("events", "events_rate_from_previous")):
        prev = df[base].shift(1).to_numpy(dtype=float)
        cur = df[base].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[out] = np.where(prev > 0, cur / np.where(prev > 0, prev, 1.0), np.nan)
    return labelled(df, db, scope)


TOP_BY = ("impressions", "clicks", "carts", "purchases", "ctr", "revenue")
_TOP_COUNTS = ("impressions", "clicks", "carts", "purchases")


def top_products(db: Database, n: int = 20, by: str = "purchases", scope: Scope | None = None,
                 min_impressions: int = 0) -> pd.DataFrame:
    """The n products with most `by` (ties: lower id first), with catalog SKU, title and colour where the id is
    in the catalog. `min_impressions` keeps a product shown once and clicked once from topping a CTR ranking.
    Impressions follow the module's rule (reported, else served). Over whole days of all algorithms it sums the
    per-product daily rollup (and today's raw events); any other filter reads the raw events."""
    if by not in TOP_BY:
        raise ValidationError(f"cannot rank products by {by!r}: use one of {', '.join(TOP_BY)}")
    n = top_n(n)
    if isinstance(min_impressions, bool) or not isinstance(min_impressions, int) or min_impressions < 0:
        raise ValidationError(f"min_impressions must be a whole number ≥ 0, got {min_impressions!r}")
    scope = scope or Scope()
    fast = not (scope.sub_day or scope.algorithms or scope.strategies or scope.experiment is not None)
    scope.conditions()  # validates before anything is written
    if fast:
        rollups.refresh(db, wait=False)
    with db.engine.connect() as conn:  # one snapshot: the coverage and the rows it points at agree
        cov = rollups.coverage(rollups.snapshot(conn)) if fast else None
        src = rollups.product_rows(db.engine.dialect.name, scope.conditions, cov, _first_day(scope))
        sums = {c: func.sum(src.c[c]).label(c) for c in rollups.PRODUCT_SUMS}
        order = sums[by] if by != "ctr" else (
            sums["clicks"] * literal(1.0) / func.nullif(sums["impressions"], 0))
        q = (select(src.c.product_id, *sums.values()).group_by(src.c.product_id)
             .having(sums["impressions"] >= min_impressions)
             .order_by(order.desc().nulls_last() if by == "ctr" else order.desc(), src.c.product_id).limit(n))
        if not fast:
            rollups.snapshot(conn)
        rows = conn.execute(q).all()
        ids = [r[0] for r in rows]
        cards = {r[0]: r[1:] for r in conn.execute(select(Product.id, Product.sku, Product.title, Product.colour)
                                                   .where(Product.id.in_(ids)))} if ids else {}
    df = _pandas().DataFrame.from_records([tuple(r) for r in rows], columns=["product_id", *_TOP_COUNTS, "revenue"])
    for i, col in enumerate(("sku", "title", "colour")):
        df.insert(1 + i, col, [cards[p][i] if p in cards else None for p in ids])
    for c in ["product_id", *_TOP_COUNTS]:
        df[c] = df[c].astype("int64")
    df["revenue"] = df["revenue"].astype("float64")
    return labelled(add_rates(df, ("ctr", "conversion_click")), db, scope)


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


__all__ = ["COUNTS", "Coverage", "DENOMINATORS", "RETIRED", "Scope", "add_rates", "coverage", "ctr_by_position",
           "daily", "denominator", "empty_counts", "funnel",
           "group_counts", "grouped_counts", "label_strategies", "logged_strategies", "metrics", "strategy_labels",
           "top_products", "wilson", "wilson_arrays", "TOP_BY"]
