"""The impression writer: batches many served lists into one transaction, never blocks a submit, loses
nothing at a clean shutdown and still counts the drops of a true overload."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow, day_number
from engine.insights.events import EventLog
from engine.insights.gaps import incomplete, warning
from engine.service.impressions import ImpressionWriter

ITEMS = 12


@pytest.fixture()
def events(tmp_path) -> EventLog:
    return EventLog(Database(f"sqlite:///{tmp_path / 'impressions.db'}"))


def _job(n: int, items: int = ITEMS, **extra) -> dict:
    return dict(served=[(1000 + n * 100 + i, i, 1.0 - i / 100) for i in range(items)], session_id=f"s-{n}",
                algorithm="vector_combined", strategy="balanced", user_id=f"u-{n % 7}", source_product_id=n + 1,
                config_version=3, filters={"request_id": f"req-{n}", "category": "tops"}, **extra)


def test_every_list_submitted_from_many_threads_is_written_by_close(events):
    writer, lists, threads = ImpressionWriter(events), 5000, 8

    def serve(t: int) -> None:
        for n in range(t, lists, threads):
            writer.submit(_job(n))

    pool = [threading.Thread(target=serve, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    writer.close()
    assert writer.status() == {"queued": 0, "written": lists, "dropped": 0, "failed": 0}
    assert writer.batches < lists  # many lists per transaction, not one each
    with events.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(EventRow)).scalar_one() == lists * ITEMS
        assert conn.execute(select(func.count(func.distinct(EventRow.session_id)))).scalar_one() == lists


def test_rows_of_a_batch_carry_the_values_of_their_list(events):
    writer = ImpressionWriter(events)
    served_at = datetime(2025, 3, 4, 5, 6, 7)
    for n in range(3):
        writer.submit(_job(n, items=4, ts=served_at if n == 1 else None))
    writer.submit({**_job(3), "served": [(1, -1, 0.5)]})  # an invalid list fails alone
    writer.close()
    assert writer.status() == {"queued": 0, "written": 3, "dropped": 0, "failed": 1}
    with events.db.session() as s:
        rows = list(s.scalars(select(EventRow).order_by(EventRow.id)))
    assert len(rows) == 12
    for n in range(3):
        mine = [r for r in rows if r.session_id == f"s-{n}"]
        assert [r.product_id for r in mine] == [1000 + n * 100 + i for i in range(4)]
        assert [r.position for r in mine] == [0, 1, 2, 3]
        assert [r.score for r in mine] == pytest.approx([1.0, 0.99, 0.98, 0.97])
        assert {(r.kind, r.algorithm, r.strategy, r.user_id, r.source_product_id, r.config_version, r.simulated,
                 r.external_id, r.request_id) for r in mine} == {("served", "vector_combined", "balanced",
                                                                  f"u-{n}", n + 1, 3, 0, None, f"req-{n}")}
        assert all(r.filters == {"category": "tops"} for r in mine)  # the request id has its own column
        assert len({r.ts for r in mine}) == 1 and all(r.day == day_number(r.ts) for r in mine)
    assert {r.ts for r in rows if r.session_id == "s-1"} == {served_at}


def test_a_full_queue_drops_and_counts_without_blocking(events):
    writer = ImpressionWriter(events, max_queued=5)
    gate = threading.Event()
    real = events.log_impression_lists
    events.log_impression_lists = lambda jobs: (gate.wait(10), real(jobs))[1]  # the database far behind
    for n in range(40):
        writer.submit(_job(n, items=2))
    assert writer.status()["dropped"] > 0  # the overflow was dropped, not waited for
    gate.set()
    writer.close()
    status = writer.status()
    assert status["written"] + status["dropped"] == 40 and status["failed"] == 0
    assert events.count() == status["written"] * 2
    # The drops are on record as a gap, so analytics can mark the period incomplete.
    gaps = incomplete(events.db)
    assert len(gaps) == 1 and gaps[0].dropped == status["dropped"] and gaps[0].start <= gaps[0].end
    assert incomplete(events.db, gaps[0].end.date(), gaps[0].end.date()) == gaps
    assert incomplete(events.db, end=gaps[0].start.date() - timedelta(days=1)) == []
    assert "not logged" in warning(gaps) and warning([]) is None


def test_no_gap_is_recorded_when_nothing_was_dropped(events):
    writer = ImpressionWriter(events, linger=0.0)
    for n in range(50):
        writer.submit(_job(n, items=2))
    writer.close()
    assert writer.status()["dropped"] == 0 and incomplete(events.db) == []


def test_the_batched_path_stores_rows_exactly_as_the_orm_path(tmp_path):
    """log_impression_lists writes SQLite rows through the driver; they must read back exactly as the rows
    log_impressions writes through SQLAlchemy (datetimes, JSON filters, NULLs)."""
    fast, slow = (EventLog(Database(f"sqlite:///{tmp_path / name}")) for name in ("fast.db", "slow.db"))
    served_at = datetime(2025, 3, 4, 5, 6, 7, 891011)
    jobs = [_job(1, items=3, ts=served_at), {**_job(2, items=2, ts=served_at), "filters": None,
                                              "user_id": None, "config_version": None}]
    jobs = [{**j, "request_id": f"r{i}", "filters": j["filters"] and {"category": "tops"}}
            for i, j in enumerate(jobs)]
    fast.log_impression_lists(jobs)
    for j in jobs:
        slow.log_impressions(**j)
    columns = [c for c in EventRow.__table__.columns if c.name != "id"]

    def rows(log: EventLog) -> list[tuple]:
        with log.db.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(*columns).order_by(EventRow.id))]

    assert rows(fast) == rows(slow) and len(rows(fast)) == 5
    assert rows(fast)[0][columns.index(EventRow.__table__.c.ts)] == served_at


def test_a_database_from_before_served_reads_its_service_impressions_as_served(tmp_path):
    """An older database has no events.request_id: its service-logged impressions (the list named in
    filters["request_id"]) become served rows when it is opened; client-style impressions stay impressions."""
    import sqlite3
    path = tmp_path / "old.db"
    Database(f"sqlite:///{path}").engine.dispose()
    con = sqlite3.connect(path)
    con.execute("DROP INDEX ix_events_request")
    con.execute("ALTER TABLE events DROP COLUMN request_id")
    for i, filters in enumerate(['{"request_id": "req-9", "category": "tops"}', None, '{"colour": "red"}']):
        con.execute("INSERT INTO events (ts, day, kind, session_id, product_id, position, filters, simulated) "
                    "VALUES ('2025-01-02 03:04:05.000000', 20090, 'impression', 's', ?, 0, ?, 0)", (i + 1, filters))
    con.commit()
    con.close()
    db = Database(f"sqlite:///{path}")
    with db.engine.connect() as conn:
        got = conn.execute(select(EventRow.product_id, EventRow.kind, EventRow.request_id)
                           .order_by(EventRow.product_id)).all()
    assert [tuple(r) for r in got] == [(1, "served", "req-9"), (2, "impression", None), (3, "impression", None)]
