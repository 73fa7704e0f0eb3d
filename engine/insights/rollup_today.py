"""Today's partial roll: today's events up to a watermark W (the last event id rolled) in the daily rollups, so
a dashboard read sums today's rollup rows and reads raw only the events past W — a few minutes of them — instead
of every event of the day (a read cost more as the UTC day went on: 0.1–0.5 s at 10M events by evening).

A dashboard read that finds the partial roll older than TODAY_EVERY_SECONDS starts rolling today on, from the
watermark up to the current last event id (engine.insights.rollup_tail; from scratch when today is dirty or the
roll is yesterday's) — in a background thread of its process (`roll_today_soon`), because a
whole day at ten million events takes seconds to roll, which no reader should wait for; readers meanwhile use the
previous roll and a longer raw tail, so every figure is exact whatever the roll's age
(engine.insights.rollup_sql.Coverage). Imports, the simulator and tests roll in the caller (`roll_today`).

Only one process rolls at a time, and no reader waits for it: on PostgreSQL a reader that cannot take the
advisory lock at once, or whose SHARE lock on the events waits more than LOCK_TIMEOUT_MS for the writers in
flight, skips the roll and reads the longer tail. The SHARE lock (held for one max(id) only) makes W safe: every
event with an id up to W is committed, so none can appear below the watermark after the roll. On SQLite the
roll is one write transaction (one writer at a time anyway), and a second roller finds the roll fresh.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from engine.catalog.db import Database
from engine.catalog.events import EventDailyRow, EventRollupDirtyRow, EventRollupStateRow, EventRow, day_number
from engine.insights.events import utc_now
from engine.insights.rollup_sql import roll_days, sqlite_exp
from engine.insights.rollup_tail import roll_on

TODAY_EVERY_SECONDS = 300.0  # a read rolls today again when its partial roll is older than this
LOCK_TIMEOUT_MS = 200  # the longest a reader waits for the writers in flight before reading the longer tail
ROLL_LOCK_TIMEOUT_MS = 2000  # the roll's own writes (another refresh may hold the state row for a moment)
_ADVISORY_KEY = 0x76697472  # PostgreSQL advisory lock of the partial roll
_STATE_ID = 1
log = logging.getLogger(__name__)
_rolling: dict[str, threading.Thread] = {}  # database URL → the thread rolling it now, in this process
_rolling_guard = threading.Lock()


def _fresh(conn: Connection, today_n: int, now: datetime, every: float) -> bool:
    """True when there is nothing to roll: no state yet (the refresh makes it), or a partial roll of today
    younger than `every` seconds and today not marked dirty since."""
    state = conn.execute(select(EventRollupStateRow.partial_day, EventRollupStateRow.partial_at)
                         .where(EventRollupStateRow.id == _STATE_ID)).one_or_none()
    if state is None:
        return True
    if conn.execute(select(EventRollupDirtyRow.day).where(EventRollupDirtyRow.day == today_n)).first() is not None:
        return False
    day, at = state
    return day == today_n and at is not None and 0 <= (now - at).total_seconds() < every


def roll_today(db: Database, every: float | None = None, now: datetime | None = None,
               upto: int | None = None) -> int | None:
    """Roll today up to the last event id when its partial roll is older than `every` seconds (default
    TODAY_EVERY_SECONDS; 0: now); returns the new watermark, or None when it did not roll (fresh enough, or
    another process holds the roll). `upto` caps the watermark (bench/bench_analytics.py leaves a raw tail
    as long as a real read sees)."""
    now = utc_now() if now is None else now
    every = TODAY_EVERY_SECONDS if every is None else float(every)
    today_n = day_number(now)
    with db.engine.connect() as conn:
        if _fresh(conn, today_n, now, every):
            return None
    if db.engine.dialect.name == "postgresql":
        return _roll_postgres(db, today_n, now, every, upto)
    with db.engine.begin() as conn:
        # a write first: it takes SQLite's write lock, so a second roller waits here and then finds it fresh
        conn.execute(update(EventRollupStateRow).where(EventRollupStateRow.id == _STATE_ID)
                     .values(partial_at=EventRollupStateRow.partial_at))
        if _fresh(conn, today_n, now, every):
            return None
        top = _top(conn, upto)
        sqlite_exp(conn)
        _roll(conn, today_n, top, now)
    return top


def roll_today_soon(db: Database, every: float | None = None) -> threading.Thread | None:
    """Start today's roll in a background thread when it is due and no thread of this process is rolling this
    database already; returns that thread (None: nothing started). The caller reads on at once."""
    now = utc_now()
    every = TODAY_EVERY_SECONDS if every is None else float(every)
    with db.engine.connect() as conn:
        if _fresh(conn, day_number(now), now, every):
            return None
    key = db.engine.url.render_as_string(hide_password=False)
    with _rolling_guard:
        running = _rolling.get(key)
        if running is not None and running.is_alive():
            return None
        thread = threading.Thread(target=_roll_quietly, args=(db, every, key), name="vitrina-roll-today",
                                  daemon=True)
        _rolling[key] = thread
        thread.start()
    return thread


def wait_for_roll(db: Database, timeout: float = 60.0) -> None:
    """Wait for this process's background roll of `db`, if one runs (a test's or a script's next step)."""
    with _rolling_guard:
        running = _rolling.get(db.engine.url.render_as_string(hide_password=False))
    if running is not None:
        running.join(timeout)


def _roll_quietly(db: Database, every: float, key: str) -> None:
    try:
        roll_today(db, every)
    except Exception:  # noqa: BLE001  (a closed database, a lock: the next due read tries again)
        log.warning("today's rollup could not be rolled; reads use the previous roll and a longer raw tail",
                    exc_info=True)
    finally:  # a finished roll holds no reference to the database
        with _rolling_guard:
            if _rolling.get(key) is threading.current_thread():
                del _rolling[key]


def _top(conn: Connection, upto: int | None) -> int:
    top = int(conn.execute(select(func.max(EventRow.id))).scalar_one() or 0)
    return top if upto is None else min(top, upto)


def _roll_postgres(db: Database, today_n: int, now: datetime, every: float, upto: int | None) -> int | None:
    with db.engine.connect() as conn:
        if not conn.execute(select(func.pg_try_advisory_lock(_ADVISORY_KEY))).scalar_one():
            conn.rollback()
            return None  # another process is rolling today
        try:
            if _fresh(conn, today_n, now, every):  # it just did
                conn.rollback()
                return None
            conn.rollback()
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
            conn.exec_driver_sql("LOCK TABLE events IN SHARE MODE")  # waits for the inserts in flight
            top = _top(conn, upto)
            conn.commit()  # writers go on: their ids are above `top`
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ROLL_LOCK_TIMEOUT_MS}ms'")
            _roll(conn, today_n, top, now)
            conn.commit()
            return top
        except OperationalError:  # a lock timeout: read the longer tail this time
            conn.rollback()
            return None
        finally:
            conn.execute(select(func.pg_advisory_unlock(_ADVISORY_KEY)))
            conn.commit()


def _roll(conn: Connection, today_n: int, top: int, now: datetime) -> None:
    """Carry today's partial roll on from its watermark (engine.insights.rollup_tail) when it is today's, nothing
    below the watermark changed since (today not dirty) and the tail is shorter than what it holds; else roll
    today whole. Carrying on probes each tail event's list by the request index: at 3.4 M events a tail of
    1.7 M took 50 s against 36 s for the whole day, while five busy minutes (36,000 events) took 1.2 s."""
    day, since = conn.execute(select(EventRollupStateRow.partial_day, EventRollupStateRow.partial_event_id)
                              .where(EventRollupStateRow.id == _STATE_ID)).one()
    dirty = conn.execute(select(EventRollupDirtyRow.day).where(EventRollupDirtyRow.day == today_n)).first()
    held = conn.execute(select(func.sum(EventDailyRow.events)).where(EventDailyRow.day == today_n)).scalar_one()
    if day == today_n and since is not None and dirty is None and 0 <= top - since <= (held or 0):
        roll_on(conn, today_n, since, top)
    else:
        roll_days(conn, [today_n], top, partial=True)
    conn.execute(delete(EventRollupDirtyRow).where(EventRollupDirtyRow.day == today_n))
    conn.execute(update(EventRollupStateRow).where(EventRollupStateRow.id == _STATE_ID)
                 .values(partial_day=today_n, partial_event_id=top, partial_at=now))
