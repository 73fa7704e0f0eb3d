"""The card cache: a catalog edit committed by any connection (this process's pool, or another process) is
seen by the next check, and on SQLite a check after no commit at all makes no round trip to the database."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event

from engine.catalog.importers.generic import import_generic
from engine.errors import NotFound, ValidationError
from engine.recommend.cards import CardCache
from engine.runtime import Runtime
from engine.settings import Settings

CSV = ("sku,title,price,category\n"
       "A-1,Linen shirt,30,Men > Shirts\n"
       "B-2,Wool scarf,20,Accessories > Scarves\n")


@pytest.fixture()
def runtime(tmp_path: Path):
    settings = Settings()
    settings.data_dir = tmp_path
    settings.database_url = settings.qdrant_url = settings.redis_url = ""
    rt = Runtime(settings)
    report = import_generic(rt.db, CSV.encode("utf-8"), "cards.csv")
    assert not report.rejected
    yield rt
    rt.close()


def _statements(rt: Runtime) -> list[str]:
    seen: list[str] = []
    event.listen(rt.db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def _retitle(db_file: Path, sku: str, title: str) -> None:
    """An edit by another process, as the console or the CLI would make it."""
    later = (datetime.now(timezone.utc) + timedelta(seconds=5)).replace(tzinfo=None).isoformat(sep=" ")
    code = ("import sys\nfrom engine.catalog.db import make_engine\n"  # the engine's own connection: its triggers
            "e = make_engine('sqlite:///' + sys.argv[1])\n"
            "with e.begin() as c:\n"
            "    c.exec_driver_sql('UPDATE products SET title = ?, updated_at = ? WHERE sku = ?', tuple(sys.argv[2:5]))")
    subprocess.run([sys.executable, "-c", code, str(db_file), title, later, sku], check=True,
                   cwd=Path(__file__).resolve().parents[2])


def test_no_commit_no_round_trip(runtime: Runtime) -> None:
    cards = runtime.cards
    first = cards.get("A-1")
    statements = _statements(runtime)
    for _ in range(5):
        cards.check()
        assert cards.get("A-1", checked=True) is first
    assert statements == []  # nothing committed since the first check: no query at all


def test_unrelated_commit_checks_once_and_keeps_the_cards(runtime: Runtime) -> None:
    cards = runtime.cards
    first = cards.get("A-1")
    statements = _statements(runtime)
    db_file = Path(runtime.db.engine.url.database)
    with sqlite3.connect(db_file) as other:  # a commit that touches no product (an event, say)
        other.execute("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)")
        other.execute("INSERT INTO scratch VALUES (1)")
    cards.check()
    cards.check()
    assert len(statements) == 1  # one version query after the commit, none after that
    assert cards.get("A-1", checked=True) is first  # the catalog's version did not move: cards kept


def test_edit_by_another_process_is_seen(runtime: Runtime) -> None:
    cards = runtime.cards
    assert cards.get("A-1").title == "Linen shirt"
    _retitle(Path(runtime.db.engine.url.database), "A-1", "Linen shirt, sky blue")
    assert cards.get("A-1").title == "Linen shirt, sky blue"
    assert cards.cards([cards.get("B-2", checked=True).id])  # the other cards are read again, still there


def test_edit_through_this_process_is_seen(runtime: Runtime) -> None:
    cards = runtime.cards
    pid = cards.get("B-2").id
    later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=5)
    with runtime.db.engine.begin() as conn:  # a pooled connection of this process: not the watching one
        conn.exec_driver_sql("UPDATE products SET title = ?, updated_at = ? WHERE id = ?",
                             ("Wool scarf, grey", later, pid))
    assert cards.cards([pid])[pid].title == "Wool scarf, grey"


def test_card_of_follows_get(runtime: Runtime) -> None:
    catalog = runtime.catalog
    for key in ("A-1", "  A-1 ", catalog.get("A-1").id, str(catalog.get("A-1").id)):  # an all-digit string: an id
        assert catalog.card_of(key) == catalog.card(catalog.get(key))
    for bad, error in (("NOPE", NotFound), ("424242", NotFound), (424242, NotFound), ("  ", ValidationError),
                       (True, ValidationError), (1.5, ValidationError)):
        with pytest.raises(error):
            catalog.card_of(bad)
        with pytest.raises(error):
            catalog.get(bad)


def test_warm_reads_every_active_card_once(runtime: Runtime) -> None:
    cards = runtime.cards
    ids = runtime.catalog.ids(active_only=True)
    assert cards.warm(chunk=1) == len(ids) and cards.status() == {"cached": len(ids), "warming": False}
    statements = _statements(runtime)
    assert set(cards.cards(ids)) == set(ids) and statements == []  # every card from memory
    assert cards.warm() == 0  # nothing left to read


def test_warm_reads_nothing_when_the_catalog_does_not_fit(runtime: Runtime) -> None:
    small = CardCache(runtime.catalog, max_entries=1)
    assert small.warm() == 0 and small.status()["cached"] == 0
