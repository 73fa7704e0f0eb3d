"""Databases made by an older release: opening one adds the nullable columns and the indexes our tables gained
since (events.config_version), keeps the old rows (their new column reads NULL), and refuses clearly what it
cannot add. On a SQLite file and, where the server is installed, on PostgreSQL."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime

import pytest
from sqlalchemy import create_engine, inspect, select, text

from engine.catalog.db import Database, add_missing_columns
from engine.catalog.events import EventRow
from engine.errors import VitrinaError
from engine.insights.events import Event, EventLog
from engine.insights.impact import version_impact
from pg_server import postgres_server  # noqa: F401  (session fixture)

# The events table as the release before config_version made it (no config_version, none of its indexes).
OLD_EVENTS = """CREATE TABLE events (
    id {id},
    ts TIMESTAMP, day INTEGER, kind VARCHAR(16), user_id VARCHAR(128), session_id VARCHAR(128),
    product_id BIGINT, source_product_id BIGINT, query TEXT, algorithm VARCHAR(32), strategy VARCHAR(64),
    position INTEGER, score FLOAT, filters JSON, experiment VARCHAR(128), variant VARCHAR(64), simulated INTEGER,
    external_id VARCHAR(128) UNIQUE)"""
OLD_ROW = ("INSERT INTO events (ts, day, kind, session_id, product_id, algorithm, strategy, position, simulated) "
           "VALUES ('2024-05-01 10:00:00', 19844, 'impression', 'old', 7, 'trending', 'similar', 0, 0)")
T = datetime(2024, 5, 2, 9)


def _old_sqlite(path) -> str:
    con = sqlite3.connect(path)
    con.execute(OLD_EVENTS.format(id="INTEGER PRIMARY KEY"))
    con.execute(OLD_ROW)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _check_upgraded(db: Database) -> None:
    """The column and every index of the model are there, the old row reads NULL, new rows store a version."""
    insp = inspect(db.engine)
    assert "config_version" in {c["name"] for c in insp.get_columns("events")}
    have = {i["name"] for i in insp.get_indexes("events")}
    assert {i.name for i in EventRow.__table__.indexes} <= have
    assert "ix_events_config_version" in have
    EventLog(db).log(Event("impression", "new", 8, ts=T, strategy="balanced", config_version=2),
                     Event("click", "new", 8, ts=T, strategy="balanced", config_version=2))
    with db.engine.connect() as conn:
        rows = conn.execute(select(EventRow.session_id, EventRow.config_version).order_by(EventRow.id)).all()
    assert [tuple(r) for r in rows] == [("old", None), ("new", 2), ("new", 2)]
    assert version_impact(db, 2).after == {"impressions": 1, "clicks": 1, "carts": 0, "purchases": 0}
    assert add_missing_columns(db.engine) == []  # a second start finds nothing to do


def test_an_old_sqlite_file_gains_the_column_and_keeps_its_rows(tmp_path):
    url = _old_sqlite(tmp_path / "old.db")
    with pytest.raises(Exception, match="config_version"):  # what every query did before this step existed
        with create_engine(url).connect() as conn:
            conn.execute(select(EventRow.config_version)).all()
    _check_upgraded(Database(url))


def test_the_step_reports_what_it_added(tmp_path):
    url = _old_sqlite(tmp_path / "report.db")
    engine = create_engine(url)
    assert add_missing_columns(engine) == ["events.config_version", "events.request_id", "events.price",
                                          "events.quantity"]
    assert add_missing_columns(engine) == []


@pytest.mark.parametrize("old", [True, False], ids=["old file", "new file"])
def test_processes_starting_at_once_all_open_the_database(tmp_path, old):
    url = _old_sqlite(tmp_path / "race.db") if old else f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        try:
            start.wait()
            Database(url)
        except BaseException as e:  # collected: the assertion below names it
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    if old:
        _check_upgraded(Database(url))


def test_a_missing_column_that_is_not_nullable_is_refused_by_name(tmp_path):
    path = tmp_path / "notnull.db"
    con = sqlite3.connect(path)  # experiments without `control`, which the model declares NOT NULL
    con.execute("CREATE TABLE experiments (id INTEGER PRIMARY KEY, name VARCHAR(128) UNIQUE, description TEXT, "
                "status VARCHAR(16), winner VARCHAR(64), simulated BOOLEAN, created_at TIMESTAMP, "
                "stopped_at TIMESTAMP)")
    con.commit()
    con.close()
    with pytest.raises(VitrinaError, match="table experiments lacks column control, which is not nullable"):
        Database(f"sqlite:///{path}")


def test_an_old_postgresql_database_gains_the_column(postgres_server):  # noqa: F811
    url = postgres_server.create_database("vitrina_old_events")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(OLD_EVENTS.format(id="SERIAL PRIMARY KEY")))
        conn.execute(text(OLD_ROW))
    engine.dispose()
    db = Database(url)
    _check_upgraded(db)
    db.engine.dispose()
