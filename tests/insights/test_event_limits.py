"""Event files written to break the import: a gzip bomb is refused naming the cap, deep JSON is a row's
reject naming the depth limit (never a RecursionError), and any bad row is rejected with its line while the
good rows land."""
from __future__ import annotations

import json
import zlib

import pytest
from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights.event_import import import_events

MS = 1_714_557_600_000  # 2024-05-01T10:00:00Z


@pytest.fixture()
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'events.db'}")


def stored(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(EventRow))


def gzip_of_zeros(megabytes: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    block = b"0" * (1 << 20)
    return b"".join(z.compress(block) for _ in range(megabytes)) + z.flush()


def test_a_gzip_bomb_is_refused_at_the_cap(db, monkeypatch):
    bomb = gzip_of_zeros(200)
    assert len(bomb) < 1 << 20  # 200 MB of zeros is a fraction of a megabyte on disk
    monkeypatch.setenv("VITRINA_MAX_DECOMPRESSED_MB", "4")
    with pytest.raises(ValidationError, match=r"more than 4 MB \(VITRINA_MAX_DECOMPRESSED_MB\)"):
        import_events(db, bomb)
    assert stored(db) == 0


def test_a_gzip_file_under_the_cap_still_imports(db, monkeypatch):
    monkeypatch.setenv("VITRINA_MAX_DECOMPRESSED_MB", "0.01")
    line = json.dumps({"session": 1, "events": [{"aid": 3, "ts": MS, "type": "orders"}]}) + "\n"
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    assert import_events(db, z.compress(line.encode()) + z.flush()).inserted == 1


def ev(**over) -> str:
    return json.dumps({"kind": "click", "ts": "2024-05-01T10:00:00Z", "session_id": "s1", "product_id": 5} | over)


def test_jsonl_bad_rows_are_rejected_one_by_one(db):
    lines = [
        ev(session_id="good-1"),
        '{"kind": "click", "ts": "2024-05-01T10:00:00Z", "session_id": "\\ud800", "product_id": 5}',
        ev(user_id="nul\u0000user"),
        '{"kind": "click", "ts": "2024-05-01T10:00:00Z", "session_id": "s", "product_id": 5, "filters": '
        + '{"a":' * 100 + "1" + "}" * 100 + "}",
        '{"kind": "click", "filters": ' + "[" * 100_000 + "]" * 100_000 + "}",
        ev(ts="0001-01-01T00:00:00+01:00"),
        ev(product_id=99999999999999999999999),
        '{"kind": "click", "ts": "2024-05-01T10:00:00Z", "session_id": "s", "product_id": ' + "9" * 5000 + "}",
        '{"kind": "click", "ts": "2024-05-01T10:00:00Z", "session_id": "s", "product_id": 5, '
        '"filters": {"colour": "\\udfff"}}',
        ev(session_id="good-2", score=0.5),
    ]
    rep = import_events(db, ("\n".join(lines) + "\n").encode(), format="generic")
    reasons = dict(rep.rejected)
    assert sorted(reasons) == list(range(2, 10))
    assert "session_id" in reasons[2] and "lone surrogate" in reasons[2]
    assert "user_id" in reasons[3] and "NUL" in reasons[3]
    assert "nests deeper than 64 levels (VITRINA_MAX_DOCUMENT_DEPTH)" in reasons[4]
    assert "nests deeper than 64 levels (VITRINA_MAX_DOCUMENT_DEPTH)" in reasons[5]
    assert "out of range" in reasons[6]
    assert "product_id must be at most" in reasons[7]
    assert "digits" in reasons[8]
    assert "filters" in reasons[9] and "lone surrogate" in reasons[9]
    assert (rep.inserted, stored(db)) == (2, 2)


def test_csv_filters_nested_too_deep_are_that_rows_reject(db):
    deep = '"' + '{""a"":' * 100 + "1" + "}" * 100 + '"'
    data = ("kind,ts,session_id,product_id,filters\n"
            "click,2024-05-01T10:00:00Z,s1,5,\n"
            f"click,2024-05-01T10:00:00Z,s2,5,{deep}\n"
            "click,2024-05-01T10:00:00Z,s\x003,5,\n"
            "click,2024-05-01T10:00:00Z,s4,5,\"{\"\"colour\"\": \"\"red\"\"}\"\n").encode()
    rep = import_events(db, data)
    reasons = dict(rep.rejected)
    assert sorted(reasons) == [3, 4]
    assert "VITRINA_MAX_DOCUMENT_DEPTH" in reasons[3] and "NUL" in reasons[4]
    assert stored(db) == 2


def test_otto_lines_nested_too_deep_are_rejected_and_the_rest_land(db):
    good = json.dumps({"session": 1, "events": [{"aid": 3, "ts": MS, "type": "clicks"}]})
    abyss = '{"session": 2, "events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    bad_ts = json.dumps({"session": 3, "events": [{"aid": 3, "ts": 10 ** 30, "type": "clicks"}]})
    rep = import_events(db, "\n".join([good, abyss, bad_ts, good.replace('"session": 1', '"session": 4')]).encode(),
                        format="otto")
    reasons = dict(rep.rejected)
    assert sorted(reasons) == [2, 3] and "VITRINA_MAX_DOCUMENT_DEPTH" in reasons[2]
    assert rep.inserted == 2


def test_a_deep_first_line_does_not_break_format_detection(db):
    abyss = '{"session": 2, "events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    rep = import_events(db, (abyss + "\n" + ev() + "\n").encode())
    assert rep.inserted == 1 and "VITRINA_MAX_DOCUMENT_DEPTH" in dict(rep.rejected)[1]


def test_a_header_of_100000_columns_is_refused_with_a_short_message(db):
    header = ",".join(f"c{i}" for i in range(100_000))
    with pytest.raises(ValidationError, match="lacks column") as e:
        import_events(db, (header + "\n").encode())
    assert len(str(e.value)) < 1000 and stored(db) == 0
