"""Event files as a hostile sender writes them: whatever the lines, an import either refuses the whole file
with a ValidationError (nothing stored) or stores exactly the rows it reports as inserted and names every
rejected line — never another exception."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights.event_import import import_events

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4),
                           max_leaves=12)
FIELDS = ["kind", "ts", "session_id", "user_id", "product_id", "sku", "position", "algorithm", "filters", "query"]
EVENTS = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["impression", "click", "cart_add", "purchase", "view", ""]) | JSON_VALUES,
    "ts": st.sampled_from(["2024-05-01T10:00:00Z", "2024-13-45", "9999-12-31T23:59:59+14:00"])
    | st.integers(-2**70, 2**70) | JSON_VALUES,
    "session_id": st.text(max_size=40) | JSON_VALUES,
    "product_id": st.integers(-2**70, 2**70) | JSON_VALUES,
    "position": st.integers(-2**40, 2**40) | JSON_VALUES,
    "filters": JSON_VALUES,
    "query": st.text(max_size=60),
})


def _line(event) -> str:
    try:
        return json.dumps(event, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return str(event)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Database:
    return Database(f"sqlite:///{tmp_path_factory.mktemp('events') / 'events.db'}")


def _stored(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(EventRow)).scalar_one())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(EVENTS.map(_line) | st.text(max_size=80), max_size=12))
def test_any_jsonl_lines_import_or_are_refused_with_every_bad_line_named(db, lines):
    before = _stored(db)
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    try:
        report = import_events(db, data, format="jsonl")
    except ValidationError as e:
        assert str(e) and _stored(db) == before  # a refused file changes nothing
        return
    assert _stored(db) == before + report.inserted
    assert report.rows == report.inserted + report.duplicates + len(report.rejected)
    assert all(isinstance(line, int) and line >= 1 and reason for line, reason in report.rejected)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=8), max_size=10))
def test_any_csv_cells_import_or_are_refused(db, rows):
    before = _stored(db)
    header = ",".join(FIELDS[:5])
    body = "\n".join(",".join(json.dumps(c) for c in row) for row in rows)
    data = (header + "\n" + body).encode("utf-8", "surrogatepass")
    try:
        report = import_events(db, data, format="csv")
    except ValidationError as e:
        assert str(e) and _stored(db) == before
        return
    assert _stored(db) == before + report.inserted


CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "events"


def test_corpus_gzip_bomb_is_refused_at_the_cap_and_stores_nothing(db, monkeypatch):
    monkeypatch.setenv("VITRINA_MAX_DECOMPRESSED_MB", "4")
    before = _stored(db)
    with pytest.raises(ValidationError, match="VITRINA_MAX_DECOMPRESSED_MB"):
        import_events(db, CORPUS / "zeros-bomb.jsonl.gz")
    assert _stored(db) == before
