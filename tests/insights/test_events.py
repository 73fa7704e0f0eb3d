"""Event log writes and the generic / OTTO importers, against a real SQLite file."""
from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.models import Product
from engine.errors import ValidationError
from engine.insights.event_import import import_events
from engine.insights.events import Event, EventLog
from engine.catalog.events import EventRow


@pytest.fixture()
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'events.db'}")


def rows(db: Database) -> list[EventRow]:
    with db.session() as s:
        return list(s.scalars(select(EventRow).order_by(EventRow.id)))


T0 = datetime(2024, 5, 1, 12, 0, 0)


# ---- EventLog --------------------------------------------------------------------------------------------------

def test_log_stores_every_field(db):
    log = EventLog(db)
    n = log.log(Event("click", "s1", 42, ts=T0, user_id="u1", source_product_id=7, algorithm="vector_text",
                      strategy="similar", position=2, score=0.75, filters={"colours": ["red"]},
                      experiment="exp1", variant="B"))
    assert n == 1
    (r,) = rows(db)
    assert (r.kind, r.session_id, r.product_id, r.ts, r.user_id, r.source_product_id) == \
        ("click", "s1", 42, T0, "u1", 7)
    assert (r.algorithm, r.strategy, r.position, r.score, r.filters) == \
        ("vector_text", "similar", 2, 0.75, {"colours": ["red"]})
    assert (r.experiment, r.variant, r.simulated, r.external_id, r.query) == ("exp1", "B", 0, None, None)


def test_aware_timestamps_are_stored_as_utc(db):
    EventLog(db).log(Event("purchase", "s", 1, ts=datetime(2024, 5, 1, 15, 0, tzinfo=timezone(timedelta(hours=3)))))
    assert rows(db)[0].ts == datetime(2024, 5, 1, 12, 0)


def test_rows_written_through_the_orm_get_their_day(db):
    with db.session() as s:
        s.add(EventRow(ts=datetime(1970, 1, 3, 23, 59), kind="click", session_id="s", product_id=1))
    assert rows(db)[0].day == 2  # whole days since 1970-01-01


def test_log_impressions_writes_one_batch_sharing_the_context(db):
    served = [(11, 0, 0.9), (12, 1, 0.8), (13, 2, 0.5)]
    n = EventLog(db).log_impressions([(p, pos, np.float32(sc)) for p, pos, sc in served], session_id="s9",
                                     user_id="u9", algorithm="vector_combined", strategy="diverse",
                                     source_product_id=5, ts=T0, request_id="req-1")
    assert n == 3
    got = rows(db)
    assert [(r.product_id, r.position, r.score) for r in got] == [(p, pos, pytest.approx(sc)) for p, pos, sc in served]
    assert {(r.kind, r.session_id, r.user_id, r.algorithm, r.strategy, r.source_product_id, r.ts, r.request_id)
            for r in got} == {("served", "s9", "u9", "vector_combined", "diverse", 5, T0, "req-1")}
    with pytest.raises(ValidationError, match="kind"):
        EventLog(db).log_impressions(served, session_id="s9", algorithm="trending", kind="click")


@pytest.mark.parametrize("bad, message", [
    (Event("view", "s", 1), "unknown event kind"),
    (Event("click", "s", 1, position=-1), "position must be at least 0"),
    (Event("click", "s", 1, score=math.nan), "finite"),
    (Event("click", "", 1), "session_id"),
    (Event("click", "s", 1.5), "product_id"),
    (Event("click", "s", 1, algorithm="no spaces allowed"), "algorithm"),
    (Event("click", "s", 1, experiment="e"), "experiment and variant go together"),
])
def test_a_bad_event_writes_nothing_of_its_batch(db, bad, message):
    good = Event("impression", "s", 2, ts=T0)
    with pytest.raises(ValidationError, match=message):
        EventLog(db).log_many([good, bad])
    assert rows(db) == []


def test_log_impressions_rejects_a_negative_position_and_writes_nothing(db):
    with pytest.raises(ValidationError, match="event 1: position"):
        EventLog(db).log_impressions([(1, 0, 0.9), (2, -1, 0.8)], session_id="s", algorithm="trending")
    assert rows(db) == []


def test_a_retried_external_id_is_written_once(db):
    log = EventLog(db)
    assert log.log(Event("purchase", "s", 3, ts=T0, external_id="order-77")) == 1
    assert log.log(Event("purchase", "s", 3, ts=T0, external_id="order-77"),
                   Event("purchase", "s", 4, ts=T0, external_id="order-78")) == 1
    assert [r.external_id for r in rows(db)] == ["order-77", "order-78"]


# ---- OTTO import -----------------------------------------------------------------------------------------------

def otto_line(session, events) -> str:
    return json.dumps({"session": session, "events": events})


MS = 1_700_000_000_000  # 2023-11-14


def test_otto_import_maps_kinds_and_reports_bad_lines(db):
    text = "\n".join([
        otto_line(5, [{"aid": 10, "ts": MS, "type": "clicks"}, {"aid": 11, "ts": MS + 1000, "type": "carts"},
                      {"aid": 11, "ts": MS + 2000, "type": "orders"}]),
        "{not json",
        otto_line(6, [{"aid": 12, "ts": MS, "type": "views"}, {"aid": 13, "ts": MS, "type": "clicks"}]),
        "",
        otto_line(7, [{"ts": MS, "type": "clicks"}, {"aid": 14, "ts": 1_700_000_000, "type": "clicks"}]),
        json.dumps({"session": 8}),
    ]) + "\n"
    report = import_events(db, text.encode())
    assert report.format == "otto"
    assert report.inserted == 4  # session 5: 3, session 6: 1
    assert report.duplicates == 0
    assert [line for line, _ in report.rejected] == [2, 3, 5, 5, 6]
    msgs = dict(report.rejected[:2])
    assert "not valid JSON" in msgs[2] and "event 0: unknown type 'views'" in msgs[3]
    assert "aid" in report.rejected[2][1] and "epoch seconds" in report.rejected[3][1]
    got = [(r.session_id, r.product_id, r.kind, r.ts) for r in rows(db)]
    t = datetime(1970, 1, 1) + timedelta(milliseconds=MS)
    assert got == [("otto-5", 10, "click", t), ("otto-5", 11, "cart_add", t + timedelta(seconds=1)),
                   ("otto-5", 11, "purchase", t + timedelta(seconds=2)), ("otto-6", 13, "click", t)]
    again = import_events(db, text.encode())
    assert (again.inserted, again.duplicates, len(again.rejected)) == (0, 4, 5)
    assert len(rows(db)) == 4


def test_otto_sample_file_lands_whole_and_once(db, otto_file):
    expected: Counter[str] = Counter()
    kinds = {"clicks": "click", "carts": "cart_add", "orders": "purchase"}
    sessions = set()
    for line in otto_file.read_text().splitlines():
        obj = json.loads(line)
        sessions.add(f"otto-{obj['session']}")
        for e in obj["events"]:
            expected[kinds[e["type"]]] += 1
    seen = []
    report = import_events(db, otto_file, progress=lambda done, total: seen.append((done, total)), chunk_size=100)
    assert report.rejected == []
    assert report.inserted == sum(expected.values())
    assert Counter(r.kind for r in rows(db)) == expected
    assert {r.session_id for r in rows(db)} == sessions
    lines = len(otto_file.read_text().splitlines())
    assert seen[-1] == (lines, lines) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    again = import_events(db, str(otto_file))
    assert (again.inserted, again.duplicates) == (0, sum(expected.values()))


def test_gzip_bytes_are_unpacked(db):
    data = gzip.compress((otto_line(1, [{"aid": 3, "ts": MS, "type": "orders"}]) + "\n").encode())
    assert import_events(db, data).inserted == 1
    assert rows(db)[0].kind == "purchase"


# ---- generic import --------------------------------------------------------------------------------------------

def add_product(db: Database, pid: int, sku: str) -> None:
    with db.session() as s:
        s.add(Product(id=pid, sku=sku, title=f"Product {pid}", price=10.0))


CSV = """kind,ts,user_id,session_id,product_id,sku,source_product_id,query,algorithm,strategy,position,score,experiment,variant
impression,2024-05-01T10:00:00Z,u1,s1,5,,9,,vector_text,similar,0,0.91,,
click,2024-05-01T12:00:00+02:00,u1,s1,5,,9,,vector_text,similar,0,0.91,,
cart_add,1714557600000,,s1,,MH01-XS,,red jacket,search_text,,,,ab,B
view,2024-05-01T10:00:00Z,u1,s1,5,,,,,,,,,
click,yesterday,u1,s1,5,,,,,,,,,
click,2024-05-01T10:00:00Z,u1,,5,,,,,,,,,
click,2024-05-01T10:00:00Z,u1,s1,5,,,,,,first,,,
purchase,2024-05-01T10:00:00Z,u1,s1,,NOPE,,,,,,,,
click,2024-05-01T10:00:00Z,u1
purchase,2024-05-01T10:05:00,u2,s2,6,,,,fbt,,,,,
"""


def test_generic_csv_lands_good_rows_and_numbers_bad_lines(db):
    add_product(db, 77, "MH01-XS")
    report = import_events(db, CSV.encode(), format="generic")
    assert report.format == "generic-csv"
    assert report.rows == 10
    assert report.inserted == 4
    lines = [line for line, _ in report.rejected]
    assert lines == [5, 6, 7, 8, 9, 10]
    msgs = dict(report.rejected)
    assert "unknown event kind 'view'" in msgs[5]
    assert "neither ISO 8601 nor epoch milliseconds" in msgs[6]
    assert "session_id is missing" in msgs[7]
    assert "position must be a whole number" in msgs[8]
    assert "unknown sku 'NOPE'" in msgs[9]
    assert "expected 14 fields, found 3" in msgs[10]
    got = rows(db)
    assert [(r.kind, r.ts, r.product_id) for r in got] == [
        ("impression", datetime(2024, 5, 1, 10, 0), 5),
        ("click", datetime(2024, 5, 1, 10, 0), 5),  # 12:00 at +02:00
        ("cart_add", datetime(2024, 5, 1, 10, 0), 77),  # epoch ms 1714557600000, SKU resolved
        ("purchase", datetime(2024, 5, 1, 10, 5), 6),
    ]
    assert (got[0].source_product_id, got[0].algorithm, got[0].strategy, got[0].position, got[0].score) == \
        (9, "vector_text", "similar", 0, 0.91)
    assert (got[2].query, got[2].experiment, got[2].variant, got[2].user_id) == ("red jacket", "ab", "B", None)
    again = import_events(db, CSV.encode())
    assert (again.inserted, again.duplicates, len(again.rejected)) == (0, 4, 6)


def test_csv_without_required_columns_is_refused_whole(db):
    with pytest.raises(ValidationError, match="lacks column.*session_id.*product_id or sku"):
        import_events(db, b"kind,ts,user_id\nclick,2024-05-01T10:00:00Z,u1\n")
    assert rows(db) == []


def test_generic_jsonl_uses_event_id_as_identity(tmp_path, db):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([
        json.dumps({"event_id": "e1", "kind": "click", "ts": 1714557600000, "session_id": "s", "product_id": 3,
                    "position": 4, "filters": {"price_max": 50}}),
        json.dumps({"event_id": "e1", "kind": "click", "ts": 1714557600000, "session_id": "s", "product_id": 3}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"kind": "click", "ts": "2024-05-01T10:00:00", "session_id": "s", "product_id": 3,
                    "score": "high"}),
        json.dumps({"kind": "purchase", "ts": "2024-05-01T10:00:00", "session_id": "s", "product_id": 3}),
    ]) + "\n")
    report = import_events(db, path)
    assert report.format == "generic-jsonl"
    assert (report.inserted, report.duplicates) == (2, 1)
    assert [line for line, _ in report.rejected] == [3, 4]
    assert "expected a JSON object" in report.rejected[0][1] and "score" in report.rejected[1][1]
    got = rows(db)
    assert [(r.kind, r.position, r.filters) for r in got] == [("click", 4, {"price_max": 50}), ("purchase", None, None)]


def test_unknown_format_and_missing_file_are_clear_errors(db, tmp_path):
    with pytest.raises(ValidationError, match="unknown event format"):
        import_events(db, b"{}", format="parquet")
    with pytest.raises(ValidationError, match="does not exist"):
        import_events(db, tmp_path / "nope.csv")
