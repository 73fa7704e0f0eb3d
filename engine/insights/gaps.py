"""Where the event log is known to be incomplete. The service's impression writer never blocks a request, so
under a true overload it drops served lists rather than slow the shop down; it records each such stretch here,
and every analytics view asks `incomplete` for its period so a rate computed on a partial log says so instead
of reading as the truth."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.events import EventGapRow


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    dropped: int
    what: str

    def text(self) -> str:
        return (f"{self.dropped} served list(s) were not logged between {self.start:%Y-%m-%d %H:%M:%S} and "
                f"{self.end:%Y-%m-%d %H:%M:%S} UTC (the service was overloaded)")


def record_gap(db: Database, start: datetime, end: datetime, dropped: int, what: str = "impressions") -> None:
    """Remember that `dropped` served lists between start and end (naive UTC) never reached the log."""
    with db.session() as s:
        s.add(EventGapRow(start=start, end=end, dropped=int(dropped), what=what))


def _instant(v: date | datetime | None, end: bool) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.combine(v, time()) + (timedelta(days=1) if end else timedelta())


def incomplete(db: Database, start: date | datetime | None = None, end: date | datetime | None = None) -> list[Gap]:
    """The gaps overlapping [start, end] (dates cover whole days; None leaves that side open), oldest first."""
    q = select(EventGapRow).order_by(EventGapRow.start)
    lo, hi = _instant(start, False), _instant(end, True)
    if lo is not None:
        q = q.where(EventGapRow.end >= lo)
    if hi is not None:
        q = q.where(EventGapRow.start <= hi)
    with db.session() as s:
        return [Gap(r.start, r.end, r.dropped, r.what) for r in s.scalars(q)]


def warning(gaps: list[Gap]) -> str | None:
    """One sentence for a view's banner, or None when the period's log is complete."""
    if not gaps:
        return None
    total = sum(g.dropped for g in gaps)
    first, last = gaps[0].start, gaps[-1].end
    return (f"Incomplete period: {total} served list(s) were not logged between {first:%Y-%m-%d %H:%M} and "
            f"{last:%Y-%m-%d %H:%M} UTC (the service was overloaded); rates over this period undercount impressions.")
