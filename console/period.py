"""The one period every insight view reads (the console's side of engine.insights.period): a choice of "last
7 / 14 / 28 days" or a custom range, the previous period of equal length it is compared with, and whether the
log is known to be incomplete over it.

Analytics and Overview draw the same picker under the same keys (console.state.kept), so the period chosen on
one page is the period of the other: a headline and the charts under it can no longer disagree about which
days they describe.

"Last N days" ends today (UTC) when the log has events in those days. A log that stops earlier (an imported
file from last year, a demo database left alone for a month) would show an empty page, so the window then ends
on the log's last day with events and says so in its label."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from engine.catalog.db import Database
from engine.errors import ValidationError
from engine.insights.analytics import Scope
from engine.insights.period import MAX_DAYS, Period as EnginePeriod, notes

PRESETS = {"7": "Last 7 days", "14": "Last 14 days", "28": "Last 28 days", "custom": "Custom range"}
DEFAULT_PRESET = "7"


def today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `start` to `end`, both included. `name` is how a view speaks of it ("last 7 days");
    `gaps` says why the period's log is incomplete (dropped served lists, an import still running:
    engine.insights.period.notes), or None when it is complete."""

    start: date
    end: date
    name: str = "custom range"
    gaps: str | None = None

    def __post_init__(self) -> None:
        EnginePeriod(self.start, self.end)  # the engine's checks: dates, not inverted, at most MAX_DAYS

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def incomplete(self) -> bool:
        return self.gaps is not None

    def previous(self) -> "Period":
        """The period of equal length that ends the day before this one starts: what the deltas compare with."""
        before = EnginePeriod(self.start, self.end).previous()
        return Period(before.start, before.end, f"previous {self.days} days")

    def text(self) -> str:
        """"last 7 days (2026-11-21 – 2026-11-27)", with "incomplete data" when the log has a gap in it."""
        span = f"{self.start}" if self.start == self.end else f"{self.start} – {self.end}"
        return f"{self.name} ({span})" + (", incomplete data" if self.incomplete else "")

    def scope(self, algorithms: Sequence[str] = (), simulated: bool | None = None) -> Scope:
        return Scope(start=self.start, end=self.end, algorithms=tuple(algorithms), simulated=simulated)

    def with_gaps(self, db: Database) -> "Period":
        """This period labelled incomplete when the service dropped lists in it or an import into it runs."""
        return replace(self, gaps=" ".join(notes(db, self.start, self.end)) or None)


def last_days(n: int, *, last_event_day: date | None, now: date | None = None) -> Period:
    """The last `n` days ending today, or ending on the log's last day with events when the log has none in them."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_DAYS:
        raise ValidationError(f"a period is 1 to {MAX_DAYS} days long, got {n!r}")
    end = now or today()
    if last_event_day is not None and last_event_day < end - timedelta(days=n - 1):
        return Period(last_event_day - timedelta(days=n - 1), last_event_day,
                      f"the {n} days up to the log's last event")
    return Period(end - timedelta(days=n - 1), end, f"last {n} days")


def custom(dates: Any) -> Period:
    """A (start, end) pair from a date range widget; an unfinished or inverted range is a ValidationError."""
    if isinstance(dates, (date, datetime)):
        dates = (dates,)
    picked = tuple(d for d in (dates or ()) if d is not None)
    if not picked:
        raise ValidationError("pick a date range: a start and an end date")
    if len(picked) == 1:
        raise ValidationError(f"pick an end date too: the range starts on {picked[0]} and has no end yet")
    if len(picked) != 2 or not all(isinstance(d, date) for d in picked):
        raise ValidationError(f"a date range has a start and an end date, got {picked!r}")
    start, end = (d.date() if isinstance(d, datetime) else d for d in picked)
    return Period(start, end, "custom range")


def choose(preset: str, dates: Any, *, last_event_day: date | None, now: date | None = None) -> Period:
    """The period a preset (or a custom range) means."""
    if preset not in PRESETS:
        raise ValidationError(f"unknown period {preset!r}: use one of {', '.join(PRESETS)}")
    if preset == "custom":
        return custom(dates)
    return last_days(int(preset), last_event_day=last_event_day, now=now)


def picker(where: Any, kept: Callable[..., Any], *, last_event_day: date | None) -> tuple[str, Any]:
    """Draw the period widgets in `where` (the sidebar) under the keys every insight page shares; returns the
    preset and the custom range as chosen (turned into a Period by `choose`, which may refuse the range)."""
    preset = kept(where.selectbox, "Period", list(PRESETS), key="period_preset", default=DEFAULT_PRESET,
                  format_func=PRESETS.__getitem__, valid=lambda v: v in PRESETS,
                  help="Every number and chart on the page covers this period; deltas compare it with the "
                       "period of equal length just before it. Days are UTC, both ends included.")
    dates = None
    if preset == "custom":
        end = last_event_day or today()
        dates = kept(where.date_input, "Dates (UTC)", key="period_dates", default=(end - timedelta(days=6), end),
                     valid=lambda v: isinstance(v, (tuple, list)) and len(v) <= 2
                     and all(isinstance(d, date) for d in v))
    return preset, dates


__all__ = ["DEFAULT_PRESET", "PRESETS", "Period", "choose", "custom", "last_days", "picker", "today"]
