"""The period a figure speaks of, the one before it (for deltas), and whether its data are complete.

Every function that returns figures for a period labels it: `notes(db, start, end)` lists why the period's log
may be incomplete — served lists the service had to drop (engine.insights.gaps) and event imports still running
(engine.insights.event_import records each one in event_imports, with a heartbeat per chunk) — and an empty
list means complete. An import whose heartbeat is older than STALE_IMPORT stopped without finishing (its process
died): it is reported as interrupted, since its file's rows may be half in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.events import EPOCH, EventImportRow, EventRow, day_number
from engine.errors import ValidationError
from engine.insights.events import utc_now
from engine.insights.gaps import incomplete, warning

STALE_IMPORT = timedelta(minutes=15)
MAX_DAYS = 40_000  # about a century: `--since 2000-01-01` is a fair question


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if isinstance(v, datetime) or not isinstance(v, date):
                raise ValidationError(f"{name} must be a date, got {v!r}")
        if self.start > self.end:
            raise ValidationError(f"the period is inverted: it starts on {self.start}, after its end on {self.end}")
        if self.days > MAX_DAYS:
            raise ValidationError(f"a period spans at most {MAX_DAYS} days, got {self.days}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period of the same length just before this one: what deltas compare with."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


def last_days(days: int, today: date | None = None) -> Period:
    """The `days` days ending today (UTC), today included."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    end = today or utc_now().date()
    return Period(end - timedelta(days=days - 1), end)


@dataclass
class Completeness:
    """Why a period's figures may be short; `complete` when there is no reason."""

    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.notes


def _day(v: date | datetime | None, default: int) -> int:
    if v is None:
        return default
    return day_number(v if isinstance(v, datetime) else datetime.combine(v, datetime.min.time()))


def notes(db: Database, start: date | datetime | None, end: date | datetime | None) -> list[str]:
    """The reasons the log of [start, end] may be incomplete, one sentence each (empty: complete); None leaves
    that side open."""
    out = []
    gap = warning(incomplete(db, start, end))
    if gap:
        out.append(gap)
    lo, hi = _day(start, -1), _day(end, 10 ** 9)
    now = utc_now()
    with db.session() as s:
        running = list(s.scalars(select(EventImportRow).where(EventImportRow.status == "running")))
    for r in running:
        if r.first_day is not None and (r.last_day < lo or r.first_day > hi):
            continue
        state = ("was interrupted" if now - r.heartbeat > STALE_IMPORT else "is still running")
        out.append(f"An event import ({r.source}) {state}: {r.rows} rows so far; figures over this period may "
                   "change when it completes.")
    return out


def log_span(db: Database) -> Period | None:
    """The first and last day with events, or None for an empty log (one index read each)."""
    with db.engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(EventRow.day), func.max(EventRow.day))).one()
    if lo is None:
        return None
    return Period((EPOCH + timedelta(days=int(lo))).date(), (EPOCH + timedelta(days=int(hi))).date())
