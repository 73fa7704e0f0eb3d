"""Who the event log knows and what they did: the reads behind the console's personalisation page."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow

@dataclass(frozen=True)
class Shopper:
    """A user id of the event log, with how much and how lately it was active."""

    user_id: str
    events: int
    last_seen: datetime
    simulated: bool  # every event of this user was made by the traffic simulator

    @property
    def label(self) -> str:
        origin = " · simulated" if self.simulated else ""
        return f"{self.user_id} · {self.events} events · last {self.last_seen:%Y-%m-%d %H:%M}{origin}"


def shoppers(db: Database, limit: int) -> list[Shopper]:
    """The `limit` most recently active users of the event log, latest first (ties by user id)."""
    last = func.max(EventRow.ts)
    q = (select(EventRow.user_id, func.count(), last, func.min(EventRow.simulated))
         .where(EventRow.user_id.is_not(None)).group_by(EventRow.user_id)
         .order_by(last.desc(), EventRow.user_id).limit(limit))
    with db.engine.connect() as conn:
        return [Shopper(str(u), int(n), ts, bool(sim)) for u, n, ts, sim in conn.execute(q)]


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    ts: datetime
    kind: str
    product_id: int
    algorithm: str | None


def history(db: Database, user_id: str, limit: int, impressions: bool) -> tuple[list[HistoryEvent], int]:
    """The user's `limit` most recent events (newest first, as the profile reads them) and how many there are
    in all; impressions only when asked for."""
    where = [EventRow.user_id == user_id]
    if not impressions:
        where.append(EventRow.kind.not_in(("served", "impression")))  # what was shown, not what they did
    q = (select(EventRow.id, EventRow.ts, EventRow.kind, EventRow.product_id, EventRow.algorithm).where(*where)
         .order_by(EventRow.ts.desc(), EventRow.id.desc()).limit(limit))
    with db.engine.connect() as conn:
        rows = [HistoryEvent(int(i), ts, str(k), int(p), a) for i, ts, k, p, a in conn.execute(q)]
        total = int(conn.execute(select(func.count()).select_from(EventRow).where(*where)).scalar_one())
    return rows, total
