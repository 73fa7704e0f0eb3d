"""The SQL the daily rollups (engine.insights.rollups) are built and read with: the reported-else-served rule as
SQL, the money sums, which days a read takes from the rollup and which from the raw events (`Coverage`), and
the statements that roll days up (`roll_days`) — kept apart from the refresh's bookkeeping so each module stays
readable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sqlalchemy import (Float, String, and_, case, cast, delete, exists, func, insert, literal, literal_column, not_,
                        or_, select)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from engine.catalog.events import EventDailyRow, EventRow, ProductDailyRow, SessionDailyRow
from engine.insights.events import EVENT_KINDS

# the session funnel's stages: a session reached one when it has an event of these kinds
STAGE_KINDS = {"shown": ("served", "impression"), "clicked": ("click",), "carted": ("cart_add",),
               "bought": ("purchase",)}
KEYS = ("algorithm", "strategy", "config_version", "experiment", "variant", "position", "simulated")
SUMS = ("events", "unreported", "priced", "units", "revenue")
PRODUCT_SUMS = ("impressions", "clicks", "carts", "purchases", "revenue")
# The half-life of the product rollup's decayed sums: popularity's default (engine.insights.popularity), which
# reads them for that half-life only; any other half-life reads the raw events.
DECAY_HALF_LIFE_HOURS = 72.0


class no_index(FunctionElement):  # a function in a query, so named like one
    """A column SQLite may not choose an index by (`+col`); as is on other databases, where `+` is arithmetic."""

    inherit_cache = True

    def __init__(self, col: Any) -> None:
        super().__init__(col)
        self.type = col.type


@compiles(no_index)
def _plain(element: no_index, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(no_index, "sqlite")
def _plus(element: no_index, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def unreported_served(table: Any = EventRow, since_day: int | None = None, by_day: bool = False,
                      dialect: str = "sqlite", upto: int | None = None) -> Any:
    """1 for a served row whose list no client reported an impression for, else 0 (a SQL expression).

    The reported lists are one uncorrelated subquery (SQLite builds a temporary index of it once, PostgreSQL a
    hash), not an EXISTS per row, for which SQLite picks the kind index and rescans every impression. A list's
    impressions never precede it, so `since_day` (the first day of the rows asked about) bounds that subquery;
    `by_day` (SQLite, a few recent days) keeps SQLite on the day index instead of walking every impression.
    PostgreSQL gets NOT EXISTS instead: it plans that as a hashed anti-join, while a NOT IN list larger than
    work_mem becomes a per-row rescan. `upto`: only impressions with ids up to it count (a partial roll)."""
    seen = aliased(EventRow, name="seen")
    if dialect != "sqlite":
        reported = exists().where(seen.request_id == table.request_id, seen.kind == "impression")
        if since_day is not None:
            reported = reported.where(seen.day >= since_day)
        if upto is not None:
            reported = reported.where(seen.id <= upto)
        return case((and_(table.kind == "served", or_(table.request_id.is_(None), not_(reported))), 1), else_=0)
    kind = literal_column("+seen.kind", String) if by_day else seen.kind
    lists = select(seen.request_id).where(kind == "impression", seen.request_id.is_not(None))
    if since_day is not None:
        lists = lists.where(seen.day >= since_day)
    if upto is not None:
        lists = lists.where(literal_column("+seen.id") <= upto)
    return case((and_(table.kind == "served", or_(table.request_id.is_(None), table.request_id.not_in(lists))), 1),
                else_=0)


def reported_lists(since_day: int | None = None, upto: int | None = None) -> Any:
    """The request ids of lists with client-reported impressions (from `since_day` on, with ids up to `upto`),
    as a derived table to LEFT JOIN: both databases hash it once, where a per-row EXISTS inside an aggregate is
    a per-row probe."""
    seen = aliased(EventRow, name="seen")
    q = select(seen.request_id).where(seen.kind == "impression", seen.request_id.is_not(None))
    if since_day is not None:
        q = q.where(seen.day >= since_day)
    if upto is not None:
        q = q.where(seen.id <= upto)
    return q.distinct().subquery("reported")


def _reported_by_id(table: Any, upto: int | None = None) -> Any:
    """EXISTS an impression naming the row's list (with an id up to `upto`): one probe of the request index per
    row, for the few rows of a raw tail (hashing every reported list of the day would cost more)."""
    seen = aliased(EventRow, name="seen")
    q = exists().where(seen.request_id == table.request_id, no_index(seen.kind) == "impression")
    return q if upto is None else q.where(no_index(seen.id) <= upto)


def tail_unreported(table: Any = EventRow, upto: int | None = None) -> Any:
    """1 for a served row of a list with no impression (with an id up to `upto`), probed per row
    (`_reported_by_id`), else 0."""
    return case((and_(table.kind == "served",
                      or_(table.request_id.is_(None), not_(_reported_by_id(table, upto)))), 1), else_=0)


def money_columns(table: Any = EventRow) -> tuple[Any, Any, Any]:
    """(priced rows, units, revenue) as SQL sums: revenue = price × quantity (1 where absent) of priced rows."""
    priced = table.price.is_not(None)
    units = case((priced, func.coalesce(table.quantity, 1)), else_=0)
    revenue = case((priced, table.price * func.coalesce(table.quantity, 1)), else_=0.0)
    return func.sum(case((priced, 1), else_=0)), func.sum(units), func.sum(revenue)


class Only:
    """The events table as filters see it, with every column but `keep` behind SQLite's unary `+`, which keeps
    a filter from choosing an index: the raw part of a read spans a few days (keep="day"), and SQLite would
    otherwise seek an equality such as config_version = 2 and walk every day of it (a second instead of
    milliseconds); a raw tail is found by its ids (keep="id"), not by today's thousands of rows."""

    def __init__(self, keep: str) -> None:
        self._keep = keep

    def __getattr__(self, name: str) -> Any:
        col = getattr(EventRow, name)
        if name == self._keep:
            return col
        return literal_column(f"+{EventRow.__tablename__}.{name}", col.type)


@dataclass(frozen=True)
class Coverage:
    """Which days the rollup answers for: every day ≤ through_day except the dirty ones, and today's partial
    roll (`partial_day`: its events with ids up to `partial_id`; the later ones, its tail, are read raw)."""

    through_day: int
    dirty: frozenset[int]
    last_event_id: int = 0  # the rolled days hold the events up to this id (later ones: read them raw)
    partial_day: int | None = None
    partial_id: int = 0

    def rolled(self, table: Any) -> list[Any]:
        conds = [table.day <= self.through_day]
        if self.dirty:
            conds.append(table.day.not_in(sorted(self.dirty)))
        if self.partial_day is None:
            return conds
        return [or_(and_(*conds), table.day == self.partial_day)]

    def raw(self, table: Any) -> list[Any]:
        """The days read raw in full (with a partial roll: all but the partial day, whose tail is `tail`)."""
        if self.partial_day is None:
            if not self.dirty:
                return [table.day > self.through_day]
            return [or_(table.day > self.through_day, table.day.in_(sorted(self.dirty)))]
        arms = [table.day > self.partial_day]
        if self.through_day + 1 < self.partial_day:
            arms.append(and_(table.day > self.through_day, table.day < self.partial_day))
        if self.dirty:
            arms.append(table.day.in_(sorted(self.dirty)))
        return [or_(*arms)]

    def first_raw(self) -> int:
        """The first day `raw` reads (its lists' impressions are never earlier)."""
        first = self.through_day + 1
        if first == self.partial_day:
            first += 1
        return min([first, *self.dirty])

    def tail(self, table: Any) -> list[Any]:
        """The partial day's events past the watermark (`table`: EventRow or `Only("id")`)."""
        return [table.day == self.partial_day, EventRow.id > self.partial_id]

    def newly_reported(self, table: Any, upto: int | None = None) -> list[Any]:
        """The partial day's served rows counted as unreported by the partial roll whose list got its first
        impression after the watermark (and up to the id `upto`): the reported-else-served rule no longer counts
        them. Found from those impressions by the request index (`table`: EventRow or `Only("request_id")`), not
        among the day's rows."""
        seen = aliased(EventRow, name="late")
        late = select(seen.request_id).where(seen.id > self.partial_id, no_index(seen.kind) == "impression")
        if upto is not None:
            late = late.where(seen.id <= upto)
        return [EventRow.request_id.in_(late), table.day == self.partial_day, table.kind == "served",
                table.id <= self.partial_id, not_(_reported_by_id(EventRow, self.partial_id))]


def decay_column(kind: str) -> Any:
    """The product rollup's column of Σ 2^(hours since midnight / DECAY_HALF_LIFE_HOURS) over `kind` events."""
    return getattr(ProductDailyRow, f"decay_{kind}")


def _growth(dialect: str) -> Any:
    """2^(hours since the event's midnight / DECAY_HALF_LIFE_HOURS), per raw event (at most 2^(1/3))."""
    if dialect == "sqlite":
        hours = (func.julianday(EventRow.ts) - 2440587.5 - EventRow.day) * 24.0
    else:
        hours = (cast(func.extract("epoch", EventRow.ts), Float) - EventRow.day * 86400) / 3600.0
    return func.exp(hours * (math.log(2) / DECAY_HALF_LIFE_HOURS))


def roll_days(conn: Connection, days: Sequence[int], top: int, partial: bool = False) -> None:
    """Replace the rollup rows of `days` with fresh sums over their raw events (the product rollup: those with
    ids up to `top`, the refresh's last id, so an event landing meanwhile is read raw until the next refresh).
    `partial` (today's roll up to the watermark `top`): every part, and the reported lists, stop at `top`."""
    sqlite = conn.dialect.name == "sqlite"
    ids = [no_index(EventRow.id) <= top] if partial else []
    upto = top if partial else None
    conn.execute(delete(EventDailyRow).where(EventDailyRow.day.in_(days)))
    keys = [getattr(EventRow, k) for k in KEYS]
    priced, units, revenue = money_columns()
    q = select(EventRow.day, EventRow.kind, *keys, func.count())
    if sqlite:  # one temporary index of the reported list ids (unreported_served)
        q = q.add_columns(func.sum(unreported_served(since_day=min(days), upto=upto)))
    else:  # PostgreSQL hashes the reported lists once for a LEFT JOIN
        reported = reported_lists(min(days), upto)
        q = q.add_columns(func.sum(case((and_(EventRow.kind == "served", or_(
            EventRow.request_id.is_(None), reported.c.request_id.is_(None))), 1), else_=0))).select_from(
            EventRow.__table__.outerjoin(reported, reported.c.request_id == EventRow.request_id))
    q = (q.add_columns(priced, units, revenue).where(EventRow.day.in_(days), *ids)
         .group_by(EventRow.day, EventRow.kind, *keys))
    cols = ["day", "kind", *KEYS, "events", "unreported", "priced", "units", "revenue"]
    conn.execute(insert(EventDailyRow).from_select(cols, q))
    conn.execute(delete(SessionDailyRow).where(SessionDailyRow.day.in_(days)))
    stages = [func.max(case((EventRow.kind.in_(kinds), 1), else_=0)) for kinds in STAGE_KINDS.values()]
    q = (select(EventRow.day, EventRow.session_id, EventRow.simulated, *stages).where(EventRow.day.in_(days), *ids)
         .group_by(EventRow.day, EventRow.session_id, EventRow.simulated))
    conn.execute(insert(SessionDailyRow).from_select(["day", "session_id", "simulated", *STAGE_KINDS], q))
    conn.execute(delete(ProductDailyRow).where(ProductDailyRow.day.in_(days)))
    per_row = product_rows(conn.dialect.name, lambda t: [t.day.in_(days), t.id <= top], None, min(days),
                           with_day=True, upto=upto)
    decays = [f"decay_{k}" for k in EVENT_KINDS]
    q = (select(per_row.c.day, per_row.c.product_id, per_row.c.simulated,
                *(func.sum(per_row.c[c]) for c in (*PRODUCT_SUMS, *decays)))
         .group_by(per_row.c.day, per_row.c.product_id, per_row.c.simulated))
    conn.execute(insert(ProductDailyRow).from_select(["day", "product_id", "simulated", *PRODUCT_SUMS, *decays],
                                                     q))


def _product_columns(unreported: Any) -> list[Any]:
    return [EventRow.product_id,
            case((EventRow.kind == "impression", 1), (unreported, 1), else_=0).label("impressions"),
            *(case((EventRow.kind == kind, 1), else_=0).label(col)
              for kind, col in (("click", "clicks"), ("cart_add", "carts"), ("purchase", "purchases"))),
            case((and_(EventRow.kind == "purchase", EventRow.price.is_not(None)),
                  EventRow.price * func.coalesce(EventRow.quantity, 1)), else_=0.0).label("revenue")]


def rolled_product_columns(dialect: str, unreported: Any) -> list[Any]:
    """A raw event's columns in the product rollup: its day, `simulated`, the counts and revenue, and the
    decayed sums per kind (`unreported`: the condition under which a served row counts as an impression)."""
    growth = _growth(dialect)
    return [EventRow.day, EventRow.simulated, *_product_columns(unreported),
            *(case((EventRow.kind == k, growth), else_=0.0).label(f"decay_{k}") for k in EVENT_KINDS)]


def product_rows(dialect: str, conditions: Callable[[Any], list[Any]], cov: Coverage | None,
                 since_day: int | None, with_day: bool = False, upto: int | None = None) -> Any:
    """A derived table of (product_id, impressions, clicks, carts, purchases, revenue) rows to sum per product:
    one per raw event (impressions by the reported-else-served rule) and, given the rollup's coverage, one per
    rolled-up day and product — with today's partial roll, one per tail event and −1 impression per served row
    of a list first reported after the watermark. `conditions(table)` filters either table (days and simulated
    traffic only when `cov` is given: the product rollup keeps no other column)."""
    extra = [] if cov is None else cov.raw(EventRow)
    by_day = cov is not None and dialect == "sqlite"
    if cov is not None and cov.through_day >= 0:  # the raw part's lists: served on its days, not before
        first_raw = cov.first_raw()
        since_day = first_raw if since_day is None else max(since_day, first_raw)
    src: Any = EventRow.__table__
    if dialect == "sqlite":
        unreported: Any = unreported_served(since_day=since_day, by_day=by_day, upto=upto) == 1
    else:
        reported = reported_lists(since_day, upto)
        unreported = and_(EventRow.kind == "served",
                          or_(EventRow.request_id.is_(None), reported.c.request_id.is_(None)))
        src = src.outerjoin(reported, reported.c.request_id == EventRow.request_id)
    cols = rolled_product_columns(dialect, unreported) if with_day else _product_columns(unreported)
    # `extra` (the days read raw) first: of two lower bounds on the day SQLite walks the index from the first it
    # meets, and the period's start made it walk all of today's partial roll to find nothing past it (440 ms at
    # 3.4 M events today, on every top-products read).
    raw = select(*cols).select_from(src).where(*extra, *conditions(Only("day") if by_day else EventRow))
    if cov is None or cov.through_day < 0:
        return raw.subquery("per_product")
    parts = [raw, select(ProductDailyRow.product_id, *(getattr(ProductDailyRow, c) for c in PRODUCT_SUMS)).where(
        *conditions(ProductDailyRow), *cov.rolled(ProductDailyRow))]
    if cov.partial_day is not None:
        tail = Only("id") if dialect == "sqlite" else EventRow
        parts.append(select(*_product_columns(tail_unreported() == 1)).where(*conditions(tail), *cov.tail(tail)))
        zero = [literal(0).label(c) for c in ("clicks", "carts", "purchases")]
        late = Only("request_id") if dialect == "sqlite" else EventRow
        parts.append(select(EventRow.product_id, literal(-1).label("impressions"), *zero,
                            literal(0.0).label("revenue")).where(*conditions(late), *cov.newly_reported(late)))
    return parts[0].union_all(*parts[1:]).subquery("per_product")


def sqlite_exp(conn: Connection) -> None:
    """SQLite builds without math functions get `exp` from Python (on this connection), so decay runs in SQL."""
    if conn.dialect.name != "sqlite":
        return
    if "ENABLE_MATH_FUNCTIONS" not in {r[0] for r in conn.exec_driver_sql("PRAGMA compile_options")}:
        conn.connection.driver_connection.create_function("exp", 1, math.exp, deterministic=True)
