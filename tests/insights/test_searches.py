"""Search insights: recorded searches read back as top, failed and unclicked queries for a period, checked
against counts worked out here; bad records are refused with the field named."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from engine.catalog.db import Database
from engine.errors import ValidationError
from engine.insights.events import Event, EventLog
from engine.insights.searches import PHOTO, failed_queries, queries_without_clicks, record_search, top_queries

T = datetime(2025, 6, 10, 12)
DAY = date(2025, 6, 10)


@pytest.fixture()
def db(tmp_path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    rec = [  # (query, results, no good match, request id)
        ("Red dress", 12, False, "q1"), ("red  dress ", 9, False, "q2"), ("red dress", 10, False, "q3"),
        ("linen shirt", 4, False, "q4"), ("linen shirt", 5, False, "q5"),
        ("unicorn onesie", 0, False, "q6"), ("unicorn onesie", 0, False, "q7"),
        ("velvet cape", 3, True, "q8"),
    ]
    for i, (q, n, loose, rid) in enumerate(rec):
        record_search(db, kind="text", query=q, results=n, no_good_match=loose, request_id=rid, language="en",
                      attributes={"colour": "red"} if "red" in q.lower() else None, ts=T + timedelta(minutes=i))
    record_search(db, kind="photo", results=8, request_id="p1", ts=T)
    record_search(db, kind="photo", results=8, no_good_match=True, request_id="p2", ts=T)
    record_search(db, kind="text", query="red dress", results=10, request_id="old", ts=T - timedelta(days=30))
    EventLog(db).log_many([Event("click", "s", 1, ts=T, request_id="q1", algorithm="search_text"),
                           Event("click", "s", 2, ts=T, request_id="q1", algorithm="search_text"),
                           Event("click", "s", 3, ts=T, request_id="p1", algorithm="search_image")])
    return db


def test_top_queries_fold_spelling_and_count_clicks_by_request_id(db):
    top = top_queries(db, DAY, DAY).set_index("query")
    assert top.index[0].lower() == "red dress" and top.iloc[0]["searches"] == 3  # the month-old one is outside
    assert top.iloc[0]["clicked"] == 1 and top.iloc[0]["click_rate"] == pytest.approx(1 / 3)
    assert top.loc[PHOTO, "searches"] == 2 and top.loc[PHOTO, "clicked"] == 1
    assert top.loc["unicorn onesie", "zero_results"] == 2 and top.loc["linen shirt", "avg_results"] == 4.5
    assert top.attrs["period"] == {"start": "2025-06-10", "end": "2025-06-10", "days": 1}
    assert top.attrs["incomplete"] == []
    assert list(top_queries(db, DAY, DAY, kind="photo").index) == [0] and len(top_queries(db, DAY, DAY, n=2)) == 2


def test_failed_and_unclicked_queries(db):
    failed = failed_queries(db, DAY, DAY)
    assert set(failed["query"]) == {"unicorn onesie", "velvet cape", PHOTO}
    assert failed.set_index("query").loc["velvet cape", "no_good_match"] == 1
    unclicked = queries_without_clicks(db, DAY, DAY)
    assert set(unclicked["query"]) == {"linen shirt", "velvet cape"}  # zero-result ones are "failed", not here


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "voice", "results": 1}, "kind"),
    ({"kind": "text", "results": 1}, "needs its query"),
    ({"kind": "text", "query": "x", "results": -1}, "results"),
    ({"kind": "text", "query": "a\x00b", "results": 1}, "NUL"),
    ({"kind": "text", "query": "x", "results": 1, "request_id": "bad id!"}, "request_id"),
    ({"kind": "text", "query": "x", "results": 1, "attributes": ["red"]}, "attributes"),
    ({"kind": "photo", "results": 1, "language": ""}, "language"),
])
def test_bad_records_are_refused(tmp_path, kwargs, message):
    db = Database(f"sqlite:///{tmp_path / 'b.db'}")
    with pytest.raises(ValidationError, match=message):
        record_search(db, **kwargs)
    with pytest.raises(ValidationError, match="inverted"):
        top_queries(db, DAY, DAY - timedelta(days=1))
