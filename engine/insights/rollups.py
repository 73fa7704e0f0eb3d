"""Daily rollups of the event log, so the dashboards stay interactive at ten million events.

`event_daily` holds, for every complete UTC day, one row per (day, kind, algorithm, strategy, config version,
experiment, variant, position, simulated) with its event count, the served rows of lists no client reported an
impression for (`unreported`: the CTR denominator of those lists), and the priced rows' units and revenue.
Beside it, `session_daily` (which funnel stages each session reached each day: the session funnel counts distinct
sessions over it) and `product_daily` (each product's impressions, actions and revenue per day: the top-products
ranking, and per event kind the decayed sums trending scales: `decay_column`) are rebuilt with the same days.
Readers (`read`, `sessions`, `product_rows`) add up rollup rows for the days rolled up and read the raw events for the rest: today, and
any day marked dirty since its rollup — so a figure is the same whether or not the rollup has caught up.

Refreshing is incremental (`refresh`): complete days past `through_day` are rolled up, and so are dirty days.
A day becomes dirty when an event with an id above the last one seen lands on it (a late arrival: a beacon
posted the next day, an import of old events) or when a late `impression` names a list served on it (that list
stops counting its served rows). Writers that bypass the id order — an import whose transaction commits after a
refresh, a deletion — mark their days themselves (`mark_dirty`, `reset`). The refresh takes the state row's
write lock first, so two processes refreshing at once do one after the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import (Float, String, and_, case, cast, delete, exists, func, insert, literal_column, not_, or_,
                        select, update)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from engine.catalog.db import Database
from engine.catalog.events import (EventDailyRow, EventRollupDirtyRow, EventRollupStateRow, EventRow,
                                   ProductDailyRow, SessionDailyRow, day_number, forget_rollups)
from engine.insights.events import EVENT_KINDS, utc_now

# the session funnel's stages: a session reached one when it has an event of these kinds
STAGE_KINDS = {"shown": ("served", "impression"), "clicked": ("click",), "carted": ("cart_add",),
               "bought": ("purchase",)}
KEYS = ("algorithm", "strategy", "config_version", "experiment", "variant", "position", "simulated")
_STATE_ID = 1
_DAYS_PER_PASS = 31  # one INSERT ... SELECT per month of days: a refresh after a big import streams in steps
# The half-life of the product rollup's decayed sums: popularity's default (engine.insights.popularity), which
# reads them for that half-life only; any other half-life reads the raw events.
DECAY_HALF_LIFE_HOURS = 72.0


def unreported_served(table: Any = EventRow, since_day: int | None = None, by_day: bool = False,
                      dialect: str = "sqlite") -> Any:
    """1 for a served row whose list no client reported an impression for, else 0 (a SQL expression).

    The reported lists are one uncorrelated subquery (SQLite builds a temporary index of it once, PostgreSQL a
    hash), not an EXISTS per row, for which SQLite picks the kind index and rescans every impression. A list's
    impressions never precede it, so `since_day` (the first day of the rows asked about) bounds that subquery;
    `by_day` (SQLite, a few recent days) keeps SQLite on the day index instead of walking every impression.
    PostgreSQL gets NOT EXISTS instead: it plans that as a hashed anti-join, while a NOT IN list larger than
    work_mem becomes a per-row rescan."""
    seen = aliased(EventRow, name="seen")
    if dialect != "sqlite":
        reported = exists().where(seen.request_id == table.request_id, seen.kind == "impression")
        if since_day is not None:
            reported = reported.where(seen.day >= since_day)
        return case((and_(table.kind == "served", or_(table.request_id.is_(None), not_(reported))), 1), else_=0)
    kind = literal_column("+seen.kind", String) if by_day else seen.kind
    lists = select(seen.request_id).where(kind == "impression", seen.request_id.is_not(None))
    if since_day is not None:
        lists = lists.where(seen.day >= since_day)
    return case((and_(table.kind == "served", or_(table.request_id.is_(None), table.request_id.not_in(lists))), 1),
                else_=0)


def reported_lists(since_day: int | None = None) -> Any:
    """The request ids of lists with client-reported impressions (from `since_day` on), as a derived table to
    LEFT JOIN: both databases hash it once, where a per-row EXISTS inside an aggregate is a per-row probe."""
    seen = aliased(EventRow, name="seen")
    q = select(seen.request_id).where(seen.kind == "impression", seen.request_id.is_not(None))
    if since_day is not None:
        q = q.where(seen.day >= since_day)
    return q.distinct().subquery("reported")


def money_columns(table: Any = EventRow) -> tuple[Any, Any, Any]:
    """(priced rows, units, revenue) as SQL sums: revenue = price × quantity (1 where absent) of priced rows."""
    priced = table.price.is_not(None)
    units = case((priced, func.coalesce(table.quantity, 1)), else_=0)
    revenue = case((priced, table.price * func.coalesce(table.quantity, 1)), else_=0.0)
    return func.sum(case((priced, 1), else_=0)), func.sum(units), func.sum(revenue)


@dataclass(frozen=True)
class Coverage:
    """Which days the rollup answers for: every day ≤ through_day except the dirty ones."""

    through_day: int
    dirty: frozenset[int]
    last_event_id: int = 0  # the rolled days hold the events up to this id (later ones: read them raw)

    def rolled(self, table: Any) -> list[Any]:
        conds = [table.day <= self.through_day]
        if self.dirty:
            conds.append(table.day.not_in(sorted(self.dirty)))
        return conds

    def raw(self, table: Any) -> list[Any]:
        if not self.dirty:
            return [table.day > self.through_day]
        return [or_(table.day > self.through_day, table.day.in_(sorted(self.dirty)))]


def no_jit(conn: Connection) -> Connection:
    """A dashboard read on PostgreSQL without JIT compilation (this transaction only): its raw part scans a
    table of millions of rows, so the planner's estimate passes jit_above_cost and compiling takes 50–130 ms of a
    ~100 ms read. The refresh keeps JIT, which shortens its long aggregations."""
    if conn.dialect.name == "postgresql" and (conn.dialect.server_version_info or (0,)) >= (11,):
        conn.exec_driver_sql("SET LOCAL jit = off")
    return conn


def coverage(conn: Connection) -> Coverage:
    state = conn.execute(select(EventRollupStateRow.through_day, EventRollupStateRow.last_event_id)
                         .where(EventRollupStateRow.id == _STATE_ID)).one_or_none()
    dirty = frozenset(conn.execute(select(EventRollupDirtyRow.day)).scalars())
    if state is None:
        return Coverage(-1, dirty)
    return Coverage(int(state[0]), dirty, int(state[1] or 0))


def mark_dirty(db: Database | Connection, days: Iterable[int]) -> None:
    """Have the next refresh roll these days up again (their events changed behind the id order)."""
    days = sorted({int(d) for d in days})
    if not days:
        return
    if isinstance(db, Database):
        with db.engine.begin() as conn:
            return mark_dirty(conn, days)
    have = set(db.execute(select(EventRollupDirtyRow.day).where(EventRollupDirtyRow.day.in_(days))).scalars())
    fresh = [{"day": d} for d in days if d not in have]
    if fresh:
        db.execute(insert(EventRollupDirtyRow), fresh)


def reset(db: Database) -> None:
    """Forget every rollup (after a bulk deletion): readers go raw until the next refresh rebuilds them."""
    with db.engine.begin() as conn:
        forget_rollups(conn)


@dataclass
class RefreshReport:
    days: int  # days rolled up by this refresh
    through_day: int
    last_event_id: int


def refresh(db: Database, today: date | None = None) -> RefreshReport:
    """Roll up every complete day not rolled up yet and every dirty day; cheap when there is nothing to do."""
    today_n = day_number(datetime.combine(today, datetime.min.time())) if today is not None else \
        day_number(utc_now())
    if _up_to_date(db, today_n):
        return RefreshReport(0, today_n - 1, -1)
    with db.engine.begin() as conn:
        state = _lock_state(conn)
        through, last_id = int(state[0]), int(state[1])
        top = conn.execute(select(func.max(EventRow.id))).scalar_one()
        top = int(top or 0)
        if top > last_id:  # events since the last refresh: the rolled days they touch are stale
            late = select(EventRow.day).where(EventRow.id > last_id, EventRow.day <= through).distinct()
            beacons = select(EventRow.request_id).where(EventRow.id > last_id, EventRow.kind == "impression",
                                                        EventRow.request_id.is_not(None))
            served = (select(EventRow.day).where(EventRow.kind == "served", EventRow.request_id.in_(beacons),
                                                 EventRow.day <= through).distinct())
            mark_dirty(conn, set(conn.execute(late).scalars()) | set(conn.execute(served).scalars()))
        dirty = set(conn.execute(select(EventRollupDirtyRow.day)).scalars())
        first = conn.execute(select(func.min(EventRow.day)).where(EventRow.day > through)).scalar_one()
        new_days = range(max(through + 1, int(first)), today_n) if first is not None else range(0)
        todo = sorted(d for d in dirty | set(new_days) if d < today_n)  # today and later: always read raw
        if todo:
            sqlite_exp(conn)
        for i in range(0, len(todo), _DAYS_PER_PASS):
            _roll(conn, todo[i:i + _DAYS_PER_PASS], top)
        if dirty:
            conn.execute(delete(EventRollupDirtyRow).where(EventRollupDirtyRow.day.in_(sorted(dirty))))
        through = max(through, today_n - 1)
        conn.execute(update(EventRollupStateRow).where(EventRollupStateRow.id == _STATE_ID)
                     .values(through_day=through, last_event_id=top, refreshed_at=utc_now()))
    return RefreshReport(len(todo), through, top)


def _up_to_date(db: Database, today_n: int) -> bool:
    """Nothing to roll up: no event since the last refresh, no dirty day, and every complete day is rolled
    (three index lookups, no write — the path of nearly every dashboard read)."""
    with db.engine.connect() as conn:
        state = conn.execute(select(EventRollupStateRow.through_day, EventRollupStateRow.last_event_id)
                             .where(EventRollupStateRow.id == _STATE_ID)).one_or_none()
        if state is None or int(state[0]) < today_n - 1:
            return False
        top = conn.execute(select(func.max(EventRow.id))).scalar_one()
        dirty = conn.execute(select(EventRollupDirtyRow.day).limit(1)).first()
    return int(top or 0) <= int(state[1]) and dirty is None


def _lock_state(conn: Connection) -> tuple[int, int]:
    """The state row, write-locked for this transaction (made on first use): a second refresh waits here."""
    stamp = update(EventRollupStateRow).where(EventRollupStateRow.id == _STATE_ID).values(
        refreshed_at=EventRollupStateRow.refreshed_at)
    if conn.execute(stamp).rowcount == 0:
        conn.execute(insert(EventRollupStateRow).values(id=_STATE_ID, through_day=-1, last_event_id=0))
    row = conn.execute(select(EventRollupStateRow.through_day, EventRollupStateRow.last_event_id)
                       .where(EventRollupStateRow.id == _STATE_ID)).one()
    return int(row[0]), int(row[1])


def sqlite_exp(conn: Connection) -> None:
    """SQLite builds without math functions get `exp` from Python (on this connection), so decay runs in SQL."""
    if conn.dialect.name != "sqlite":
        return
    if "ENABLE_MATH_FUNCTIONS" not in {r[0] for r in conn.exec_driver_sql("PRAGMA compile_options")}:
        conn.connection.driver_connection.create_function("exp", 1, math.exp, deterministic=True)


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


def _roll(conn: Connection, days: Sequence[int], top: int) -> None:
    """Replace the rollup rows of `days` with fresh sums over their raw events (the product rollup: those with
    ids up to `top`, the refresh's last id, so an event landing meanwhile is read raw until the next refresh)."""
    conn.execute(delete(EventDailyRow).where(EventDailyRow.day.in_(days)))
    keys = [getattr(EventRow, k) for k in KEYS]
    priced, units, revenue = money_columns()
    q = select(EventRow.day, EventRow.kind, *keys, func.count())
    if conn.dialect.name == "sqlite":  # one temporary index of the reported list ids (unreported_served)
        q = q.add_columns(func.sum(unreported_served(since_day=min(days))))
    else:  # PostgreSQL hashes the reported lists once for a LEFT JOIN
        reported = reported_lists(min(days))
        q = q.add_columns(func.sum(case((and_(EventRow.kind == "served", or_(
            EventRow.request_id.is_(None), reported.c.request_id.is_(None))), 1), else_=0))).select_from(
            EventRow.__table__.outerjoin(reported, reported.c.request_id == EventRow.request_id))
    q = (q.add_columns(priced, units, revenue).where(EventRow.day.in_(days))
         .group_by(EventRow.day, EventRow.kind, *keys))
    cols = ["day", "kind", *KEYS, "events", "unreported", "priced", "units", "revenue"]
    conn.execute(insert(EventDailyRow).from_select(cols, q))
    conn.execute(delete(SessionDailyRow).where(SessionDailyRow.day.in_(days)))
    stages = [func.max(case((EventRow.kind.in_(kinds), 1), else_=0)) for kinds in STAGE_KINDS.values()]
    q = (select(EventRow.day, EventRow.session_id, EventRow.simulated, *stages).where(EventRow.day.in_(days))
         .group_by(EventRow.day, EventRow.session_id, EventRow.simulated))
    conn.execute(insert(SessionDailyRow).from_select(["day", "session_id", "simulated", *STAGE_KINDS], q))
    conn.execute(delete(ProductDailyRow).where(ProductDailyRow.day.in_(days)))
    per_row = product_rows(conn.dialect.name, lambda t: [t.day.in_(days), t.id <= top], None, min(days),
                           with_day=True)
    decays = [f"decay_{k}" for k in EVENT_KINDS]
    q = (select(per_row.c.day, per_row.c.product_id, per_row.c.simulated,
                *(func.sum(per_row.c[c]) for c in (*PRODUCT_SUMS, *decays)))
         .group_by(per_row.c.day, per_row.c.product_id, per_row.c.simulated))
    conn.execute(insert(ProductDailyRow).from_select(["day", "product_id", "simulated", *PRODUCT_SUMS, *decays],
                                                     q))


# ---- reading ------------------------------------------------------------------------------------------------

SUMS = ("events", "unreported", "priced", "units", "revenue")


class _DayFirst:
    """The events table as filters see it, with every column but `day` behind SQLite's unary `+`, which keeps
    a filter from choosing an index: the raw part of a read spans a few days, and SQLite would otherwise seek an
    equality such as config_version = 2 and walk every day of it (a second instead of milliseconds)."""

    def __getattr__(self, name: str) -> Any:
        col = getattr(EventRow, name)
        if name == "day":
            return col
        return literal_column(f"+{EventRow.__tablename__}.{name}", col.type)


def read(db: Database, names: Sequence[str], conditions: Callable[[Any], list[Any]],
         raw_only: bool = False) -> list[tuple]:
    """Rows (*names, kind, events, unreported, priced, units, revenue) summed over the rollup for the days it
    covers and over the raw events for the others. `conditions(table)` gives the filters for either table
    (both have the columns a dashboard filters on); `raw_only` reads only raw events (sub-day bounds)."""
    with db.engine.connect() as conn:
        cov = coverage(no_jit(conn))
        out: dict[tuple, list[float]] = {}
        parts = [(EventRow, [] if raw_only else cov.raw(EventRow))]
        if not raw_only and cov.through_day >= 0:
            parts.append((EventDailyRow, cov.rolled(EventDailyRow)))
        for table, extra in parts:
            filtered: Any = table
            src: Any = table
            if table is EventRow:
                since = None if raw_only else min([cov.through_day + 1, *cov.dirty])
                if conn.dialect.name == "sqlite":
                    by_day = not raw_only
                    unreported: Any = unreported_served(since_day=since, by_day=by_day)
                    if by_day:  # a few days: read them by day, not by the equality (or order) another column offers
                        filtered = _DayFirst()
                else:  # PostgreSQL: the reported lists hashed once for a LEFT JOIN
                    reported = reported_lists(since)
                    src = EventRow.__table__.outerjoin(reported, reported.c.request_id == EventRow.request_id)
                    unreported = case((and_(EventRow.kind == "served", or_(
                        EventRow.request_id.is_(None), reported.c.request_id.is_(None))), 1), else_=0)
                sums = [func.count(), func.sum(unreported), *money_columns()]
            else:
                sums = [func.sum(getattr(table, c)) for c in SUMS]
            group = [getattr(filtered, n) for n in names] + [filtered.kind]
            q = select(*group, *sums).select_from(src).where(*conditions(filtered), *extra).group_by(*group)
            for r in conn.execute(q):
                acc = out.setdefault(tuple(r[:len(group)]), [0, 0, 0, 0, 0.0])
                for i, v in enumerate(r[len(group):]):
                    acc[i] += v or 0
    return [(*k, *v) for k, v in out.items()]


def sessions(db: Database, conditions: Callable[[Any], list[Any]]) -> dict[str, int]:
    """Distinct sessions that reached each funnel stage, over the session rollup for the days it covers and the
    raw events for the others (a session active on both sides counts once). `conditions(table)` filters
    either table by day and simulated only: other filters need the raw events (analytics.funnel). One query:
    each side's stages per session, then per session across both sides, then counted per stage."""
    raw_stages = [func.max(case((EventRow.kind.in_(kinds), 1), else_=0)).label(stage)
                  for stage, kinds in STAGE_KINDS.items()]
    with db.engine.connect() as conn:
        cov = coverage(no_jit(conn))
        parts: Any = (select(EventRow.session_id, *raw_stages).where(*conditions(EventRow), *cov.raw(EventRow))
                      .group_by(EventRow.session_id))
        if cov.through_day >= 0:
            rolled = (select(SessionDailyRow.session_id,
                             *(func.max(getattr(SessionDailyRow, stage)).label(stage) for stage in STAGE_KINDS))
                      .where(*conditions(SessionDailyRow), *cov.rolled(SessionDailyRow))
                      .group_by(SessionDailyRow.session_id))
            parts = parts.union_all(rolled)
        parts = parts.subquery("parts")
        per = (select(*(func.max(parts.c[stage]).label(stage) for stage in STAGE_KINDS))
               .group_by(parts.c.session_id).subquery("per_session"))
        row = conn.execute(select(*(func.coalesce(func.sum(per.c[stage]), 0) for stage in STAGE_KINDS))).one()
    return {stage: int(n) for stage, n in zip(STAGE_KINDS, row)}


PRODUCT_SUMS = ("impressions", "clicks", "carts", "purchases", "revenue")


def product_rows(dialect: str, conditions: Callable[[Any], list[Any]], cov: Coverage | None,
                 since_day: int | None, with_day: bool = False) -> Any:
    """A derived table of (product_id, impressions, clicks, carts, purchases, revenue) rows to sum per product:
    one per raw event (impressions by the reported-else-served rule) and, given the rollup's coverage, one per
    rolled-up day and product. `conditions(table)` filters either table (days and simulated traffic only when
    `cov` is given: the product rollup keeps no other column)."""
    extra = [] if cov is None else cov.raw(EventRow)
    by_day = cov is not None and dialect == "sqlite"
    if cov is not None and cov.through_day >= 0:  # the raw part's lists: served on its days, not before
        first_raw = min([cov.through_day + 1, *cov.dirty])
        since_day = first_raw if since_day is None else max(since_day, first_raw)
    src: Any = EventRow.__table__
    if dialect == "sqlite":
        unreported: Any = unreported_served(since_day=since_day, by_day=by_day) == 1
    else:
        reported = reported_lists(since_day)
        unreported = and_(EventRow.kind == "served",
                          or_(EventRow.request_id.is_(None), reported.c.request_id.is_(None)))
        src = src.outerjoin(reported, reported.c.request_id == EventRow.request_id)
    cols = [EventRow.product_id,
            case((EventRow.kind == "impression", 1), (unreported, 1), else_=0).label("impressions"),
            *(case((EventRow.kind == kind, 1), else_=0).label(col)
              for kind, col in (("click", "clicks"), ("cart_add", "carts"), ("purchase", "purchases"))),
            case((and_(EventRow.kind == "purchase", EventRow.price.is_not(None)),
                  EventRow.price * func.coalesce(EventRow.quantity, 1)), else_=0.0).label("revenue")]
    if with_day:  # rolling up: with the decayed sums per kind
        growth = _growth(dialect)
        cols = [EventRow.day, EventRow.simulated, *cols,
                *(case((EventRow.kind == k, growth), else_=0.0).label(f"decay_{k}") for k in EVENT_KINDS)]
    raw = select(*cols).select_from(src).where(*conditions(_DayFirst() if by_day else EventRow), *extra)
    if cov is None or cov.through_day < 0:
        return raw.subquery("per_product")
    rolled = select(ProductDailyRow.product_id, *(getattr(ProductDailyRow, c) for c in PRODUCT_SUMS)).where(
        *conditions(ProductDailyRow), *cov.rolled(ProductDailyRow))
    return raw.union_all(rolled).subquery("per_product")
