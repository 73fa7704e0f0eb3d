"""Daily rollups of the event log, so the dashboards stay interactive at ten million events.

`event_daily` holds, for every complete UTC day, one row per (day, kind, algorithm, strategy, config version,
experiment, variant, position, simulated) with its event count, the served rows of lists no client reported an
impression for (`unreported`: the CTR denominator of those lists), and the priced rows' units and revenue.
Beside it, `session_daily` (which funnel stages each session reached each day: the session funnel counts distinct
sessions over it) and `product_daily` (each product's impressions, actions and revenue per day: the top-products
ranking, and per event kind the decayed sums trending scales: `decay_column`) are rebuilt with the same days.
Today is rolled up too, to a watermark (the last event id rolled; engine.insights.rollup_today), again at most
every TODAY_EVERY_SECONDS. Readers (`read`, `sessions`, `product_rows`) add up rollup rows for the days rolled up
and today's up to the watermark, and read the raw events for the rest: today's past the watermark (its tail,
found by id), any day marked dirty since its rollup — so a figure is the same whether or not the rollup has
caught up. A served row rolled into today's partial roll whose list gets its first client-reported impression
past the watermark stops counting (`Coverage.newly_reported`). Each read is one snapshot (`snapshot`). The SQL
lives in engine.insights.rollup_sql.

Refreshing is incremental (`refresh`): complete days past `through_day` are rolled up, and so are dirty days.
A day becomes dirty when an event with an id above the last one seen lands on it (a late arrival: a beacon
posted the next day, an import of old events) or when a late `impression` names a list served on it (that list
stops counting its served rows). Writers that bypass the id order — an import whose transaction commits after a
refresh, a deletion — mark their days themselves (`mark_dirty`, `reset`). The refresh takes the state row's
write lock first, so two processes refreshing at once do one after the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import and_, case, delete, distinct, func, insert, literal, or_, select, update
from sqlalchemy.engine import Connection

from engine.catalog.db import Database
from engine.catalog.events import (EventDailyRow, EventRollupDirtyRow, EventRollupStateRow, EventRow,
                                   SessionDailyRow, day_number, forget_rollups)
from engine.insights.events import utc_now
from engine.insights.rollup_sql import (DECAY_HALF_LIFE_HOURS, KEYS, PRODUCT_SUMS, STAGE_KINDS, SUMS,  # noqa: F401
                                        Coverage, Only, decay_column, money_columns, product_rows, reported_lists,
                                        roll_days, sqlite_exp, tail_unreported, unreported_served)
from engine.insights.rollup_today import TODAY_EVERY_SECONDS, roll_today, roll_today_soon  # noqa: F401

_STATE_ID = 1
_DAYS_PER_PASS = 31  # one INSERT ... SELECT per month of days: a refresh after a big import streams in steps


def snapshot(conn: Connection) -> Connection:
    """Make a dashboard read one consistent snapshot: the rollup state, its rows and the raw tail past the
    watermark must agree while a refresh or today's roll commits meanwhile (PostgreSQL: REPEATABLE READ; SQLite:
    one read transaction). Call it before the connection's first statement. PostgreSQL also runs the read
    without JIT compilation (this transaction only): its raw part scans a table of millions of rows, so the
    planner's estimate passes jit_above_cost and compiling took 50–130 ms of a ~100 ms read. The refresh keeps
    JIT, which shortens its long aggregations."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")
        if (conn.dialect.server_version_info or (0,)) >= (11,):
            conn.exec_driver_sql("SET LOCAL jit = off")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")
    return conn


def coverage(conn: Connection) -> Coverage:
    """The rollup's coverage as the state row says; today's partial roll counts while its day is not complete
    yet (the refresh then rolls it whole) and not marked dirty since."""
    state = conn.execute(select(EventRollupStateRow.through_day, EventRollupStateRow.last_event_id,
                                EventRollupStateRow.partial_day, EventRollupStateRow.partial_event_id)
                         .where(EventRollupStateRow.id == _STATE_ID)).one_or_none()
    dirty = frozenset(conn.execute(select(EventRollupDirtyRow.day)).scalars())
    if state is None:
        return Coverage(-1, dirty)
    through, last, pday, pid = state
    partial = pday is not None and pid is not None and int(pday) > int(through) and int(pday) not in dirty
    return Coverage(int(through), dirty, int(last or 0), int(pday) if partial else None, int(pid) if partial else 0)


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


def refresh(db: Database, today: date | None = None, today_every: float | None = None,
            wait: bool = True) -> RefreshReport:
    """Roll up every complete day not rolled up yet and every dirty day; cheap when there is nothing to do.
    Then, unless `today` is given (the days before it only), roll today up to its last event when its partial
    roll is older than `today_every` seconds (engine.insights.rollup_today; default TODAY_EVERY_SECONDS): here,
    or with wait=False (a dashboard read) in a background thread while the read goes on."""
    today_n = day_number(datetime.combine(today, datetime.min.time())) if today is not None else \
        day_number(utc_now())
    report = _refresh_days(db, today_n)
    if today is None:
        (roll_today if wait else roll_today_soon)(db, today_every)
    return report


def _refresh_days(db: Database, today_n: int) -> RefreshReport:
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
        # today and later: read raw past today's partial roll, whose own roll clears today's dirty mark
        todo = sorted(d for d in dirty | set(new_days) if d < today_n)
        if todo:
            sqlite_exp(conn)
        for i in range(0, len(todo), _DAYS_PER_PASS):
            roll_days(conn, todo[i:i + _DAYS_PER_PASS], top)
        if dirty & set(todo):
            conn.execute(delete(EventRollupDirtyRow).where(EventRollupDirtyRow.day.in_(sorted(dirty & set(todo)))))
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


# ---- reading ------------------------------------------------------------------------------------------------

def _raw_counts(names: Sequence[str], conditions: Callable[[Any], list[Any]], extra: list[Any],
                since: int | None, dialect: str, by_day: bool) -> Any:
    """The count query over raw events in full (`extra`: which days): the reported lists from `since` on."""
    filtered: Any = EventRow
    src: Any = EventRow
    if dialect == "sqlite":
        unreported: Any = unreported_served(since_day=since, by_day=by_day)
        if by_day:  # a few days: read them by day, not by the equality (or order) another column offers
            filtered = Only("day")
    else:  # PostgreSQL: the reported lists hashed once for a LEFT JOIN
        reported = reported_lists(since)
        src = EventRow.__table__.outerjoin(reported, reported.c.request_id == EventRow.request_id)
        unreported = case((and_(EventRow.kind == "served", or_(
            EventRow.request_id.is_(None), reported.c.request_id.is_(None))), 1), else_=0)
    group = [getattr(filtered, n) for n in names] + [filtered.kind]
    # `extra` (the days read raw) before the dashboard's own conditions: of two lower bounds on the day, SQLite
    # walks the index from the first it meets. The period's start first made it read every event of today's
    # partial roll to find none past it (200 ms at 675,000 events, on every read).
    return (select(*group, func.count(), func.sum(unreported), *money_columns()).select_from(src)
            .where(*extra, *conditions(filtered)).group_by(*group))


def _partial_counts(names: Sequence[str], conditions: Callable[[Any], list[Any]], cov: Coverage,
                    dialect: str) -> list[Any]:
    """Beside today's partial roll: the count query over its tail (events past the watermark, found by id) and
    the correction for its served rows of lists first reported past the watermark (−1 unreported each)."""
    tail: Any = Only("id") if dialect == "sqlite" else EventRow
    group = [getattr(tail, n) for n in names] + [tail.kind]
    tail_q = (select(*group, func.count(), func.sum(tail_unreported()), *money_columns())
              .where(*conditions(tail), *cov.tail(tail)).group_by(*group))
    late: Any = Only("request_id") if dialect == "sqlite" else EventRow
    group = [getattr(late, n) for n in names] + [late.kind]
    late_q = (select(*group, literal(0), -func.count(), literal(0), literal(0), literal(0.0))
              .where(*conditions(late), *cov.newly_reported(late)).group_by(*group))
    return [tail_q, late_q]


def read(db: Database, names: Sequence[str], conditions: Callable[[Any], list[Any]],
         raw_only: bool = False) -> list[tuple]:
    """Rows (*names, kind, events, unreported, priced, units, revenue) summed over the rollup for the days it
    covers (today: up to its watermark) and over the raw events for the others (today: past the watermark).
    `conditions(table)` gives the filters for either table (both have the columns a dashboard filters on);
    `raw_only` reads only raw events (sub-day bounds). One snapshot for every part."""
    with db.engine.connect() as conn:
        cov = coverage(snapshot(conn))
        dialect = conn.dialect.name
        if raw_only:
            queries = [_raw_counts(names, conditions, [], None, dialect, False)]
        else:
            queries = [_raw_counts(names, conditions, cov.raw(EventRow), cov.first_raw(), dialect, True)]
            if cov.through_day >= 0:
                group = [getattr(EventDailyRow, n) for n in names] + [EventDailyRow.kind]
                queries.append(select(*group, *(func.sum(getattr(EventDailyRow, c)) for c in SUMS))
                               .where(*conditions(EventDailyRow), *cov.rolled(EventDailyRow)).group_by(*group))
            if cov.partial_day is not None:
                queries += _partial_counts(names, conditions, cov, dialect)
        out: dict[tuple, list[float]] = {}
        k = len(names) + 1
        for q in queries:
            for r in conn.execute(q):
                acc = out.setdefault(tuple(r[:k]), [0, 0, 0, 0, 0.0])
                for i, v in enumerate(r[k:]):
                    acc[i] += v or 0
    return [(*k, *v) for k, v in out.items()]


def sessions(db: Database, conditions: Callable[[Any], list[Any]]) -> dict[str, int]:
    """Distinct sessions that reached each funnel stage, over the session rollup for the days it covers and the
    raw events for the others (a session active on both sides counts once). `conditions(table)` filters
    either table by day and simulated only: other filters need the raw events (analytics.funnel). One query:
    the raw side's stages per session and the rollup's rows (a session's days), then the distinct sessions per
    stage across both."""
    raw_stages = [func.max(case((EventRow.kind.in_(kinds), 1), else_=0)).label(stage)
                  for stage, kinds in STAGE_KINDS.items()]
    with db.engine.connect() as conn:
        cov = coverage(snapshot(conn))
        arms: list[Any] = [select(EventRow.session_id, *raw_stages).where(*cov.raw(EventRow), *conditions(EventRow))
                           .group_by(EventRow.session_id)]
        if cov.through_day >= 0:  # a row per session and day, merged by the grouping below (one pass, not two)
            arms.append(select(SessionDailyRow.session_id,
                               *(getattr(SessionDailyRow, stage).label(stage) for stage in STAGE_KINDS))
                        .where(*conditions(SessionDailyRow), *cov.rolled(SessionDailyRow)))
        if cov.partial_day is not None:  # today's tail, by id
            tail: Any = Only("id") if conn.dialect.name == "sqlite" else EventRow
            arms.append(select(EventRow.session_id, *raw_stages).where(*conditions(tail), *cov.tail(tail))
                        .group_by(EventRow.session_id))
        parts = arms[0].union_all(*arms[1:]).subquery("parts")
        if conn.dialect.name == "sqlite":  # a distinct set per stage: a third of a grouping's sort of every session
            row = conn.execute(select(*(func.count(distinct(case((parts.c[stage] == 1, parts.c.session_id))))
                                        for stage in STAGE_KINDS))).one()
        else:  # PostgreSQL hashes the grouping
            per = (select(*(func.max(parts.c[stage]).label(stage) for stage in STAGE_KINDS))
                   .group_by(parts.c.session_id).subquery("per_session"))
            row = conn.execute(select(*(func.coalesce(func.sum(per.c[stage]), 0) for stage in STAGE_KINDS))).one()
    return {stage: int(n) for stage, n in zip(STAGE_KINDS, row)}
