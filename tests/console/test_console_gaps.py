"""The Analytics page says so when its period overlaps a stretch the service could not log (a true overload
dropped served lists: engine.insights.gaps), and says nothing when the period's log is complete."""
from __future__ import annotations

from datetime import datetime

from engine.insights.events import Event, EventLog
from engine.insights.gaps import record_gap

from test_console_analytics import open_page_alone


def _warnings(at) -> list[str]:
    return [w.value for w in at.warning if "not logged" in w.value]


def test_the_analytics_page_marks_a_period_with_dropped_lists_incomplete(own_data):  # noqa: F811
    day = datetime(2024, 6, 3, 12)
    EventLog(own_data.db).log_many([Event("impression", "s1", 1, ts=day, algorithm="vector_combined"),
                                    Event("click", "s1", 1, ts=day, algorithm="vector_combined")])
    at = open_page_alone("analytics")
    assert not at.exception and _warnings(at) == []
    record_gap(own_data.db, datetime(2024, 6, 3, 13), datetime(2024, 6, 3, 13, 5), 1234)
    at.run()
    (text,) = _warnings(at)
    assert "1234 served list(s) were not logged" in text and "Incomplete period" in text
    record_gap(own_data.db, datetime(2024, 7, 1), datetime(2024, 7, 1, 1), 99)  # outside the period shown
    at.run()
    assert len(_warnings(at)) == 1 and "1234" in _warnings(at)[0]
