"""Today's partial roll carried forward: the events past its watermark `since`, up to `top`, are added to today's
rollup rows instead of rolling the whole day again. Rolling the day from scratch cost 11.9 s of CPU at 1.65 M
events, every TODAY_EVERY_SECONDS, in the process of whoever read a dashboard; five minutes of tail are a few
thousand events however long the day has run.

The rows that come out equal those of a roll of the whole day up to `top` (tests/insights/test_rollup_today.py
compares them row for row on both databases):
- the tail's events are summed as `roll_days` sums a day, its served rows unreported when no impression with an
  id up to `top` names their list;
- a served row up to `since` that the partial roll counted as unreported, whose list got its first impression in
  (since, top], stops counting: −1 unreported in the event rollup, −1 impression in the product rollup;
- then the rows of every key the tail touched are summed into one (a session's stages: their maximum).
The caller holds the roll's write lock (rollup_today) and commits the whole as one transaction, so a reader sees
either the old watermark and its rows or the new ones.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from engine.catalog.events import EventDailyRow, EventRow, ProductDailyRow, SessionDailyRow
from engine.insights.events import EVENT_KINDS
from engine.insights.rollup_sql import (KEYS, PRODUCT_SUMS, STAGE_KINDS, SUMS, Coverage, Only, money_columns,
                                        rolled_product_columns, tail_unreported)

DECAYS = tuple(f"decay_{k}" for k in EVENT_KINDS)


def roll_on(conn: Connection, day: int, since: int, top: int) -> None:
    """Add the events of `day` with ids in (since, top] to its rollup rows, which hold its events up to `since`."""
    sqlite = conn.dialect.name == "sqlite"
    by_id = Only("id") if sqlite else EventRow  # the tail is found by its ids, not among the day's rows
    tail = [by_id.day == day, EventRow.id > since, EventRow.id <= top]
    late = Only("request_id") if sqlite else EventRow  # the newly reported lists: by the request index
    newly = Coverage(through_day=day - 1, dirty=frozenset(), partial_day=day, partial_id=since) \
        .newly_reported(late, upto=top)
    _events(conn, day, tail, newly, top)
    _sessions(conn, day, tail)
    _products(conn, day, tail, newly, top)


def _events(conn: Connection, day: int, tail: list[Any], newly: list[Any], top: int) -> None:
    keys = [getattr(EventRow, k) for k in KEYS]
    priced, units, revenue = money_columns()
    added = (select(EventRow.day, EventRow.kind, *keys, func.count(), func.sum(tail_unreported(EventRow, top)),
                    priced, units, revenue).where(*tail).group_by(EventRow.day, EventRow.kind, *keys))
    retracted = (select(EventRow.day, EventRow.kind, *keys, literal(0), -func.count(), literal(0), literal(0),
                        literal(0.0)).where(*newly).group_by(EventRow.day, EventRow.kind, *keys))
    # A day has a few thousand rows here (one per kind and served column values): all of them are folded again.
    _merge(conn, EventDailyRow, None, day, ["day", "kind", *KEYS], SUMS, added.union_all(retracted), func.sum)


def _sessions(conn: Connection, day: int, tail: list[Any]) -> None:
    stages = [func.max(case((EventRow.kind.in_(kinds), 1), else_=0)) for kinds in STAGE_KINDS.values()]
    added = (select(EventRow.day, EventRow.session_id, EventRow.simulated, *stages).where(*tail)
             .group_by(EventRow.day, EventRow.session_id, EventRow.simulated))
    _merge(conn, SessionDailyRow, "session_id", day, ["day", "session_id", "simulated"], tuple(STAGE_KINDS), added,
           func.max)


def _products(conn: Connection, day: int, tail: list[Any], newly: list[Any], top: int) -> None:
    per_row = select(*rolled_product_columns(conn.dialect.name, tail_unreported(EventRow, top) == 1)) \
        .where(*tail).subquery("per_row")
    added = (select(per_row.c.day, per_row.c.product_id, per_row.c.simulated,
                    *(func.sum(per_row.c[c]) for c in (*PRODUCT_SUMS, *DECAYS)))
             .group_by(per_row.c.day, per_row.c.product_id, per_row.c.simulated))
    zeros = [literal(0) for _ in PRODUCT_SUMS[1:-1]] + [literal(0.0) for _ in ("revenue", *DECAYS)]
    retracted = (select(EventRow.day, EventRow.product_id, EventRow.simulated, -func.count(), *zeros)
                 .where(*newly).group_by(EventRow.day, EventRow.product_id, EventRow.simulated))
    _merge(conn, ProductDailyRow, "product_id", day, ["day", "product_id", "simulated"], (*PRODUCT_SUMS, *DECAYS),
           added.union_all(retracted), func.sum)


def _top_id(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.max(table.id))).scalar_one() or 0)


def _merge(conn: Connection, table: Any, key: str | None, day: int, group: list[str], values: tuple[str, ...],
           rows: Any, how: Any) -> None:
    """Insert `rows` (the `group` columns, then the `values`) into the day's rollup `table`, then fold the day's
    rows of each group into one (`how` per value). A day holds a row per session or product, so only the rows
    of a `key` the new rows name are folded (folding a key's row for the other `simulated` value with it changes
    nothing); with no key, every row of the day."""
    cols = [*group, *values]
    before = _top_id(conn, table)
    conn.execute(insert(table).from_select(cols, rows))
    upto = _top_id(conn, table)
    if upto == before:
        return
    mine = [table.day == day, table.id <= upto]
    if key is not None:
        new = aliased(table, name="new")
        mine.append(getattr(table, key).in_(select(getattr(new, key)).where(new.id > before, new.id <= upto)))
    by = [getattr(table, c) for c in group]
    folded = select(*by, *(how(getattr(table, c)) for c in values)).where(*mine).group_by(*by)
    conn.execute(insert(table).from_select(cols, folded))
    conn.execute(delete(table).where(*mine))
