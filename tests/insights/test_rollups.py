"""Served against seen, and the daily rollups: every count checked against independent SQL over the raw events,
before and after the rollup catches up, with late arrivals and today's events."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from engine.catalog.db import Database
from engine.catalog.events import EventDailyRow
from engine.insights import analytics as A
from engine.insights.analytics import Scope
from engine.insights.events import Event, EventLog, utc_now
from engine.insights.rollups import refresh
from engine.insights.simulate import remove_simulated, simulate

D1 = datetime(2025, 3, 3, 9)


@pytest.fixture()
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'r.db'}")


def serve(db, rid, algorithm, products, when, seen=None, clicks=(), session="s"):
    """One served list; `seen` positions reported by the client; clicks on positions."""
    log = EventLog(db)
    log.log_impressions([(p, i, 1.0) for i, p in enumerate(products)], session_id=session, algorithm=algorithm,
                        request_id=rid, ts=when)
    if seen is not None:
        log.log_impressions([(products[i], i, 1.0) for i in seen], session_id=session, algorithm=algorithm,
                            request_id=rid, ts=when + timedelta(seconds=1), kind="impression")
    log.log_many([Event("click", session, products[i], ts=when + timedelta(seconds=5), algorithm=algorithm,
                        position=i, request_id=rid) for i in clicks])


def sql_exposures(db, where="1=1") -> dict:
    """Per algorithm: reported impressions of lists that have them, else served rows — straight SQL."""
    q = f"""
        SELECT algorithm, SUM(CASE WHEN kind = 'impression' THEN 1
                                   WHEN kind = 'served' AND request_id NOT IN (
                                        SELECT request_id FROM events WHERE kind = 'impression'
                                        AND request_id IS NOT NULL) THEN 1 ELSE 0 END)
        FROM events WHERE {where} GROUP BY algorithm"""
    with db.engine.connect() as conn:
        return {a: n for a, n in conn.execute(text(q)) if n}


def test_a_list_is_counted_by_its_reported_tiles_else_by_its_served_rows(db):
    serve(db, "r1", "vector_text", [1, 2, 3, 4, 5, 6], D1, seen=[0, 1, 2], clicks=[1])  # 3 seen of 6 served
    serve(db, "r2", "vector_text", [7, 8, 9, 10], D1, clicks=[0])  # no report: its 4 served rows count
    serve(db, "r3", "trending", [1, 2], D1, seen=[0, 1], clicks=[0])
    serve(db, "r4", "fbt", [5, 6, 7], D1, clicks=[2])
    m = A.metrics(db, "algorithm").set_index("algorithm")
    assert m.loc["vector_text", ["served", "reported", "impressions", "clicks"]].tolist() == [10, 3, 7, 2]
    assert m.loc["vector_text", "ctr"] == pytest.approx(2 / 7)
    assert (m.loc["vector_text", "denominator"], m.loc["trending", "denominator"],
            m.loc["fbt", "denominator"]) == ("impression+served", "impression", "served")
    assert m["impressions"].to_dict() == sql_exposures(db)
    f = A.funnel(db).set_index("stage")
    assert f.loc["impression", "events"] == 7 + 2 + 3 and f.loc["click", "events"] == 4
    assert f.loc["impression", "sessions"] == 1


def test_the_rollup_answers_like_the_raw_events(db, tmp_path):
    from engine.catalog.models import Product
    with db.session() as s:
        s.add_all([Product(id=i, sku=f"S{i}", title=f"P{i}", price=10.0 + i) for i in range(1, 40)])
    simulate(db, shoppers=60, days=5, seed=3, end=datetime(2025, 3, 6))  # refreshes: all 5 days rolled up
    with db.engine.connect() as conn:
        rolled = conn.execute(text("SELECT COUNT(DISTINCT day), SUM(events) FROM event_daily")).one()
        raw = conn.execute(text("SELECT COUNT(DISTINCT day), COUNT(*) FROM events")).one()
        by_kind = dict(conn.execute(text("SELECT kind, COUNT(*) FROM events GROUP BY kind")).all())
        revenue = conn.execute(text("SELECT SUM(price * quantity) FROM events WHERE kind = 'purchase'")).scalar()
    assert tuple(rolled) == tuple(raw)
    m = A.metrics(db, "algorithm")
    assert m["served"].sum() == by_kind["served"] and m["reported"].sum() == by_kind["impression"]
    assert m["clicks"].sum() == by_kind["click"] and m["purchases"].sum() == by_kind["purchase"]
    assert m.set_index("algorithm")["impressions"].to_dict() == sql_exposures(db)
    assert m["revenue"].sum() == pytest.approx(revenue)
    # the same figures read raw (an instant bound: the rollup holds whole days)
    raw_m = A.metrics(db, "algorithm", Scope(start=datetime(2000, 1, 1)))
    assert raw_m.drop(columns=["denominator"]).equals(m.drop(columns=["denominator"]))
    fast, slow = A.funnel(db), A.funnel(db, Scope(start=datetime(2000, 1, 1)))  # rollups / raw events
    assert fast.equals(slow)
    with db.engine.connect() as conn:
        clicked = conn.execute(text("SELECT COUNT(DISTINCT session_id) FROM events WHERE kind = 'click'")).scalar()
        shown = conn.execute(text("SELECT COUNT(DISTINCT session_id) FROM events "
                                  "WHERE kind IN ('served', 'impression')")).scalar()
    assert fast.set_index("stage")["sessions"].tolist()[:2] == [shown, clicked]
    for by in ("purchases", "ctr", "revenue"):  # the product rollup ranks like the raw events
        fast_top = A.top_products(db, 15, by, min_impressions=3 if by == "ctr" else 0)
        slow_top = A.top_products(db, 15, by, Scope(start=datetime(2000, 1, 1)), 3 if by == "ctr" else 0)
        assert fast_top.drop(columns=["revenue"]).equals(slow_top.drop(columns=["revenue"]))
        assert fast_top["revenue"].to_numpy() == pytest.approx(slow_top["revenue"].to_numpy())
    with db.engine.connect() as conn:
        bought = dict(conn.execute(text("SELECT product_id, COUNT(*) FROM events WHERE kind = 'purchase' "
                                        "GROUP BY product_id")).all())
    top = A.top_products(db, 5, "purchases")
    assert dict(zip(top["product_id"], top["purchases"])) == {p: bought.get(p, 0) for p in top["product_id"]}
    assert top["purchases"].iloc[0] == max(bought.values())
    assert remove_simulated(db) > 0
    with db.session() as s:
        assert s.query(EventDailyRow).count() == 0
    assert A.metrics(db, "algorithm").empty


def test_late_events_and_late_impressions_mark_their_days_for_recomputation(db):
    today = utc_now().date()
    d1 = datetime.combine(today - timedelta(days=3), datetime.min.time()) + timedelta(hours=9)
    serve(db, "old", "vector_text", [1, 2, 3, 4], d1, clicks=[0])
    assert A.metrics(db, "algorithm").set_index("algorithm").loc["vector_text", "impressions"] == 4  # refreshes
    # a click on the rolled day, and the client's report of that list, arrive late; a list is served today
    serve(db, "today", "vector_text", [5, 6], datetime.combine(today, datetime.min.time()), clicks=[1])
    EventLog(db).log_impressions([(1, 0, 1.0), (2, 1, 1.0)], session_id="s", algorithm="vector_text",
                                 request_id="old", ts=d1 + timedelta(days=1), kind="impression")
    EventLog(db).log(Event("click", "s", 2, ts=d1, algorithm="vector_text", position=1, request_id="old"))
    stale = A.group_counts(db, ["algorithm"], refresh=False)[("vector_text",)]
    assert stale["clicks"] == 2  # without a refresh the rolled day still answers from its old rollup
    got = A.group_counts(db, ["algorithm"])[("vector_text",)]
    assert got["clicks"] == 3
    assert got["impressions"] == 2 + 2 == sql_exposures(db)["vector_text"]  # "old" now counts its 2 reported
    with db.engine.connect() as conn:
        rolled = conn.execute(text("SELECT SUM(events) FROM event_daily WHERE kind = 'click'")).scalar_one()
        assert rolled == 2  # today's click is not rolled up: today is read raw
        assert conn.execute(text("SELECT COUNT(*) FROM event_rollup_dirty")).scalar_one() == 0
    assert refresh(db).days == 0  # nothing left to do


def test_a_session_over_several_days_counts_once_in_the_session_funnel(db):
    """Its days are separate rows of the session rollup, and its newest day raw events: one session still."""
    serve(db, "m1", "vector_text", [1, 2], D1, session="multi")  # shown on day 1
    serve(db, "m2", "vector_text", [3], D1 + timedelta(days=1), clicks=[0], session="multi")  # clicked on day 2
    serve(db, "o1", "trending", [4], D1 + timedelta(days=1), session="other")
    refresh(db, today=(D1 + timedelta(days=3)).date())  # days 1 and 2 rolled up
    serve(db, "m3", "fbt", [5], D1 + timedelta(days=3), clicks=[0], session="multi")  # read raw
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM session_daily WHERE session_id = 'multi'")).scalar() == 2
    rolled = A.funnel(db).set_index("stage")["sessions"]
    raw = A.funnel(db, Scope(start=datetime(2000, 1, 1))).set_index("stage")["sessions"]
    assert rolled["impression"] == raw["impression"] == 2 and rolled["click"] == raw["click"] == 1
