"""Stretches of the event log the service could not write (a true overload) are on record, and every analytics
view over a period that overlaps one says the period is incomplete: experiment results, version impact, the
Analytics page (tests/console) and `stats` (tests/cli)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from engine.catalog.db import Database
from engine.insights.events import Event, EventLog
from engine.insights.experiments import create_experiment, results
from engine.insights.gaps import incomplete, record_gap, warning
from engine.insights.impact import version_impact


def _log(db: Database) -> None:
    ev = []
    for i in range(40):
        for version, variant in ((1, "control"), (2, "b")):
            ev.append(Event("impression", f"s{i}", 1 + i % 5, algorithm="vector_combined", config_version=version,
                            experiment="x", variant=variant))
            if i % 4 == 0:
                ev.append(Event("click", f"s{i}", 1 + i % 5, algorithm="vector_combined", config_version=version,
                                experiment="x", variant=variant))
    EventLog(db).log_many(ev)


def test_views_over_a_gap_say_the_period_is_incomplete(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'gaps.db'}")
    create_experiment(db, "x", [("control", "balanced", 0.5), ("b", "relevance", 0.5)])
    _log(db)
    assert not any("not logged" in n for n in results(db, "x").notes)
    assert not any("not logged" in n for n in version_impact(db, 2).notes)
    now = datetime.utcnow()
    record_gap(db, now - timedelta(days=30), now - timedelta(days=29), 9)  # before the experiment began
    assert not any("not logged" in n for n in results(db, "x").notes)
    record_gap(db, now, now + timedelta(seconds=30), 312)  # while it runs
    assert any("312 served list(s) were not logged" in n for n in results(db, "x").notes)
    assert any("321 served list(s) were not logged" in n for n in version_impact(db, 2).notes)  # both gaps


def test_gaps_are_found_by_overlap_with_the_period(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'gaps.db'}")
    record_gap(db, datetime(2026, 3, 1, 23, 59), datetime(2026, 3, 2, 0, 1), 5)
    record_gap(db, datetime(2026, 3, 9, 12), datetime(2026, 3, 9, 13), 7)
    assert [g.dropped for g in incomplete(db)] == [5, 7]
    assert [g.dropped for g in incomplete(db, date(2026, 3, 2), date(2026, 3, 2))] == [5]  # overlaps by a minute
    assert [g.dropped for g in incomplete(db, date(2026, 3, 3), date(2026, 3, 8))] == []
    assert [g.dropped for g in incomplete(db, date(2026, 3, 5))] == [7]
    assert "12 served list(s)" in warning(incomplete(db))
