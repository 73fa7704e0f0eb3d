"""Popularity and trending from the event log: time-decayed weighted counts per product.

A product's score is Σ weight(kind) · 2^(−age/half_life) over its events, computed inside one SQL GROUP BY
(SQLite and PostgreSQL alike), so the recommender's trending lists and popularity boosts cost one query.
At the default half-life the days the product rollup holds (engine.insights.rollups) are read from it: per day,
product and kind it keeps Σ 2^(h/half_life) over the hours h each event came after midnight, and
2^(−(now − midnight)/half_life) times that sum is exactly the events' Σ 2^(−age/half_life) (floating-point
rounding aside), so a score does not depend on how much is rolled up. Today, dirty days, events past the
rollup's last id and days so old that the decay could underflow (PostgreSQL counts an event as 0 there) are
read raw, as is every other half-life. Kept apart from the dashboard numbers in engine.insights.analytics because the
recommender needs these on every start, and the dashboards pull in pandas and statsmodels, which it does not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import Select, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from engine.catalog.db import Database
from engine.catalog.events import EPOCH, EventRow, ProductDailyRow, day_number
from engine.catalog.models import Category, Product, ProductCategory
from engine.errors import NotFound, ValidationError
from engine.insights import rollups
from engine.insights.events import EVENT_KINDS, to_utc_naive, utc_now

DEFAULT_WEIGHTS: dict[str, float] = {"served": 0.0, "impression": 0.0, "click": 1.0, "cart_add": 3.0, "purchase": 5.0}
DEFAULT_HALF_LIFE_HOURS = 72.0
EXP_FLOOR = -700.0  # exp() below this is 0 in float8 (which underflows at about -745)
MAX_TOP_N = 10_000


def top_n(n: Any, limit: int = MAX_TOP_N) -> int:
    """The length of a top-n list, checked: a bool or a float is a caller's mistake, not a count."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValidationError(f"n must be a whole number, got {n!r}")
    if not 1 <= n <= limit:
        raise ValidationError(f"n must be between 1 and {limit}, got {n}")
    return n


@dataclass(frozen=True)
class Scored:
    product_id: int
    score: float


def _weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    w = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        if not isinstance(weights, Mapping):
            raise ValidationError(f"weights must map event kinds to numbers, got {weights!r}")
        for k, v in weights.items():
            if k not in EVENT_KINDS:
                raise ValidationError(f"unknown event kind {k!r} in weights: use {', '.join(EVENT_KINDS)}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValidationError(f"weight of {k} must be a finite number ≥ 0, got {v!r}")
            w[k] = float(v)
    if not any(v > 0 for v in w.values()):
        raise ValidationError("at least one event kind needs a positive weight")
    return w


def _ensure_sqlite_math(conn: Connection) -> None:
    """SQLite builds without math functions get `exp` from Python, so the decay still runs inside the query."""
    try:
        conn.exec_driver_sql("SELECT exp(0)").scalar()
    except Exception:  # noqa: BLE001 - "no such function" is an OperationalError of the driver
        conn.rollback()
        conn.connection.driver_connection.create_function("exp", 1, math.exp, deterministic=True)


def _popularity_query(conn: Connection, half_life_hours: float, now: datetime, category_id: int | None,
                      weights: dict[str, float], include_simulated: bool) -> Select:
    wexpr = case(*((EventRow.kind == k, literal(v)) for k, v in weights.items() if v > 0), else_=literal(0.0))
    if conn.dialect.name == "sqlite":
        _ensure_sqlite_math(conn)
        age_hours = (func.julianday(literal(now.isoformat(sep=" "))) - func.julianday(EventRow.ts)) * 24.0
    else:
        age_hours = func.extract("epoch", literal(now) - EventRow.ts) / 3600.0
    exponent = -math.log(2) * age_hours / half_life_hours
    decay = func.exp(exponent)
    if conn.dialect.name != "sqlite":  # PostgreSQL's exp() raises on underflow where SQLite's returns 0
        decay = case((exponent < EXP_FLOOR, literal(0.0)), else_=decay)
    score = func.sum(wexpr * decay).label("score")
    conds: list[Any] = [EventRow.ts <= now, EventRow.kind.in_([k for k, v in weights.items() if v > 0])]
    if not include_simulated:
        conds.append(EventRow.simulated == 0)
    in_cat = _category(conn, category_id)
    if in_cat is not None:
        conds.append(EventRow.product_id.in_(in_cat))
    rolled = _rolled_days(conn, half_life_hours, now)
    if rolled is None:
        return select(EventRow.product_id, score).where(*conds).group_by(EventRow.product_id)
    lo, hi, cov = rolled
    raw_days = [EventRow.day < lo, EventRow.day > hi, EventRow.id > cov.last_event_id]
    if cov.dirty:
        raw_days.append(EventRow.day.in_(sorted(cov.dirty)))
    raw = select(EventRow.product_id, score).where(*conds, or_(*raw_days)).group_by(EventRow.product_id)
    t = ProductDailyRow
    per_day = sum((literal(v) * rollups.decay_column(k) for k, v in weights.items() if v > 0), literal(0.0))
    since = -math.log(2) / half_life_hours * (literal((now - EPOCH).total_seconds() / 3600.0) - t.day * 24.0)
    positive = [rollups.decay_column(k) for k, v in weights.items() if v > 0]
    day_conds: list[Any] = [t.day >= lo, t.day <= hi, or_(*(c > 0 for c in positive))]  # as kind IN (...)
    if cov.dirty:
        day_conds.append(t.day.not_in(sorted(cov.dirty)))
    if not include_simulated:
        day_conds.append(t.simulated == 0)
    if in_cat is not None:
        day_conds.append(t.product_id.in_(in_cat))
    days = (select(t.product_id, func.sum(func.exp(since) * per_day).label("score")).where(*day_conds)
            .group_by(t.product_id))
    both = raw.union_all(days).subquery("parts")
    return select(both.c.product_id, func.sum(both.c.score).label("score")).group_by(both.c.product_id)


def _rolled_days(conn: Connection, half_life_hours: float, now: datetime
                 ) -> tuple[int, int, rollups.Coverage] | None:
    """(first day, last day, coverage) of the rollup days a score reads from the product rollup (but its dirty
    days), or None to read every event raw: another half-life than the rollup's, or nothing rolled up. The first
    day is the first whose every event's exponent is ≥ EXP_FLOOR (older ones go raw, where PostgreSQL counts
    them as 0); the last is the day before `now`'s (a rolled day holds whole days, all before `now`)."""
    if half_life_hours != rollups.DECAY_HALF_LIFE_HOURS:
        return None
    cov = rollups.coverage(conn)
    try:
        lo = day_number(now - timedelta(hours=-EXP_FLOOR * half_life_hours / math.log(2))) + 1
    except OverflowError:  # `now` within that span of year 1: nothing can be old enough
        lo = day_number(datetime.min)
    hi = min(cov.through_day, day_number(now) - 1)
    return (lo, hi, cov) if lo <= hi else None


def _category(conn: Connection, category_id: int | None) -> Select | None:
    """The ids of the category's whole subtree's products ("Gear" covers Bags and Watches), or None."""
    if category_id is not None:
        parents = dict(conn.execute(select(Category.id, Category.parent_id)).all())
        subtree, grew = {category_id}, True
        while grew:
            more = {c for c, p in parents.items() if p in subtree} - subtree
            subtree |= more
            grew = bool(more)
        return select(Product.id).where(Product.category_id.in_(subtree)).union(
            select(ProductCategory.product_id).where(ProductCategory.category_id.in_(subtree)))
    return None


def _popularity_args(db: Database, half_life_hours: float, now: datetime | None, category_id: int | None,
                     weights: Mapping[str, float] | None) -> tuple[datetime, dict[str, float]]:
    if isinstance(half_life_hours, bool) or not isinstance(half_life_hours, (int, float)) \
            or not math.isfinite(half_life_hours) or half_life_hours <= 0:
        raise ValidationError(f"half_life_hours must be a positive number, got {half_life_hours!r}")
    if category_id is not None:
        with db.session() as s:
            if s.get(Category, category_id) is None:
                raise NotFound(f"unknown category {category_id}")
    return (utc_now() if now is None else to_utc_naive(now)), _weights(weights)


def popularity(db: Database, half_life_hours: float = DEFAULT_HALF_LIFE_HOURS, now: datetime | None = None,
               category_id: int | None = None, weights: Mapping[str, float] | None = None,
               include_simulated: bool = True) -> dict[int, float]:
    """Σ weight(kind) · 2^(−age/half_life) per product over events up to `now`: recent buying outranks old
    browsing, and a product's score halves every half-life without new events."""
    now, w = _popularity_args(db, half_life_hours, now, category_id, weights)
    with db.engine.connect() as conn:
        q = _popularity_query(rollups.snapshot(conn), float(half_life_hours), now, category_id, w, include_simulated)
        return {int(p): float(s) for p, s in conn.execute(q)}


def trending(db: Database, n: int = 10, category_id: int | None = None,
             half_life_hours: float = DEFAULT_HALF_LIFE_HOURS, now: datetime | None = None,
             weights: Mapping[str, float] | None = None, include_simulated: bool = True) -> list[Scored]:
    """The n most popular products by `popularity`, best first (ties: lower id first)."""
    n = top_n(n)
    now, w = _popularity_args(db, half_life_hours, now, category_id, weights)
    with db.engine.connect() as conn:
        q = _popularity_query(rollups.snapshot(conn), float(half_life_hours), now, category_id, w, include_simulated)
        sub = q.subquery()
        rows = conn.execute(select(sub.c.product_id, sub.c.score).where(sub.c.score > 0)
                            .order_by(sub.c.score.desc(), sub.c.product_id).limit(n)).all()
    return [Scored(int(p), float(s)) for p, s in rows]


__all__ = ["DEFAULT_HALF_LIFE_HOURS", "DEFAULT_WEIGHTS", "Scored", "popularity", "top_n", "trending"]
