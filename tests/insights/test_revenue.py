"""Revenue, AOV, revenue per mille and attribution on a hand-made log, checked against sums worked out here and
against SQL over the raw events; bad money in event files is refused per row."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from engine.catalog.db import Database
from engine.errors import ValidationError
from engine.insights.event_import import import_events
from engine.insights.events import Event, EventLog
from engine.insights.gaps import record_gap
from engine.insights.revenue import UNATTRIBUTED, bootstrap, revenue_by, revenue_summary

D1, D2 = datetime(2025, 4, 1, 10), datetime(2025, 4, 2, 10)
START, END = date(2025, 4, 1), date(2025, 4, 3)


@pytest.fixture()
def db(tmp_path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    log = EventLog(db)
    log.log_impressions([(p, p, 1.0) for p in range(10)], session_id="a", algorithm="vector_text",
                        strategy="balanced", request_id="ra", ts=D1, config_version=2)
    log.log_impressions([(p, p, 1.0) for p in range(5)], session_id="b", algorithm="trending",
                        strategy="relevance", request_id="rb", ts=D2, config_version=3)

    def buy(session, product, when, price, quantity=None, **kw):
        return Event("purchase", session, product, ts=when, price=price, quantity=quantity, **kw)

    log.log_many([
        buy("a", 1, D1, 20.0, 2, algorithm="vector_text", strategy="balanced", config_version=2),   # 40
        buy("a", 2, D1, 15.5, algorithm="vector_text", strategy="balanced", config_version=2),      # 15.5
        buy("b", 3, D2, 100.0, 1, algorithm="trending", strategy="relevance", config_version=3),    # 100
        buy("b", 4, D2, None, algorithm="trending", strategy="relevance", config_version=3),        # no price
        Event("click", "c", 7, ts=D2, algorithm="vector_text", strategy="diverse", config_version=2),
        buy("c", 7, D2 + timedelta(minutes=5), 30.0),     # no list named: the session's last click credits it
        buy("d", 8, D2, 9.0),                             # no click in its session: unattributed
    ])
    return db


def test_totals_aov_and_revenue_per_mille(db):
    s = revenue_summary(db, START, END)
    with db.engine.connect() as conn:
        sql = conn.execute(text("SELECT SUM(price * COALESCE(quantity, 1)), COUNT(price) FROM events "
                                "WHERE kind = 'purchase'")).one()
    assert s.revenue == pytest.approx(40 + 15.5 + 100 + 30 + 9) == pytest.approx(sql[0])
    assert s.orders == 5 == sql[1] and s.purchases == 6 and s.purchases_without_price == 1
    assert s.aov == pytest.approx(s.revenue / 5)
    assert s.impressions == 15 and s.denominator == "served"
    assert s.revenue_per_mille == pytest.approx(s.revenue / 15 * 1000)
    assert s.ci_low <= s.revenue <= s.ci_high and s.incomplete == []
    assert s.as_dict()["period"] == {"start": "2025-04-01", "end": "2025-04-03", "days": 3}
    assert set(s.by_group["group_kind"]) == {"algorithm", "strategy", "config_version"}


def test_attribution_credits_the_list_else_the_sessions_last_click(db):
    by = revenue_by(db, START, END, "algorithm").set_index("group")
    assert by.loc["vector_text", "revenue"] == pytest.approx(40 + 15.5 + 30)  # 30 via the last click
    assert by.loc["trending", "revenue"] == pytest.approx(100)
    assert by.loc[UNATTRIBUTED, "revenue"] == pytest.approx(9) and by.loc[UNATTRIBUTED, "orders"] == 1
    assert by.loc["vector_text", "orders"] == 3 and by.loc["trending", "orders"] == 1
    assert by.loc["vector_text", "revenue_per_mille"] == pytest.approx(85.5 / 10 * 1000)
    strategies = revenue_by(db, START, END, "strategy").set_index("group")
    assert strategies.loc["diverse", "revenue"] == pytest.approx(30)
    versions = revenue_by(db, START, END, "config_version").set_index("group")
    assert versions.loc["2", "revenue"] == pytest.approx(85.5) and versions.loc["3", "revenue"] == 100
    assert (by["ci_low"] <= by["revenue"] + 1e-9).all() and (by["revenue"] <= by["ci_high"] + 1e-9).all()
    with pytest.raises(ValidationError, match="attribute"):
        revenue_by(db, START, END, "colour")
    with pytest.raises(ValidationError, match="inverted"):
        revenue_summary(db, END, START)


def test_bootstrap_agrees_with_a_plain_resampling_loop():
    daily = np.array([[10.0, 0.0, 30.0, 5.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    low, high = bootstrap(daily, resamples=20_000, seed=1)
    idx = np.random.default_rng(2).integers(0, 6, size=(20_000, 6))
    totals = daily[:, idx].sum(axis=2)  # the textbook loop: draw 6 days with replacement, add them up
    assert low == pytest.approx(np.percentile(totals, 2.5, axis=1), abs=2.0)
    assert high == pytest.approx(np.percentile(totals, 97.5, axis=1), abs=2.0)
    assert low[1] == high[1] == 6.0  # a constant day: no uncertainty
    long = np.zeros((1, 36_500))
    long[0, ::365] = 100.0  # a century with one sale a year: fast, and centred on the total
    lo, hi = bootstrap(long)
    assert lo[0] < 10_000 < hi[0]


def test_an_incomplete_period_is_labelled(db):
    record_gap(db, D2, D2 + timedelta(minutes=1), 7)
    assert "not logged" in revenue_summary(db, START, END).incomplete[0]
    assert revenue_summary(db, date(2025, 5, 1), date(2025, 5, 2)).incomplete == []


def test_event_files_carry_money_and_bad_money_is_refused_per_row(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'i.db'}")
    csv = ("kind,ts,session_id,product_id,price,quantity\n"
           "purchase,2025-04-01T10:00:00Z,s1,1,19.99,2\n"
           "purchase,2025-04-01T10:01:00Z,s1,2,,\n"
           "purchase,2025-04-01T10:02:00Z,s1,3,-5,1\n"
           "purchase,2025-04-01T10:03:00Z,s1,4,nan,1\n"
           "purchase,2025-04-01T10:04:00Z,s1,5,99999999999,1\n"
           "purchase,2025-04-01T10:05:00Z,s1,6,10,0\n"
           "click,2025-04-01T10:06:00Z,s1,7,10,\n"
           "cart_add,2025-04-01T10:07:00Z,s1,8,abc,1\n"
           "purchase,2025-04-01T10:08:00Z,s1,9,5,1\n").encode()
    rep = import_events(db, csv, "generic")
    assert rep.inserted == 3 and rep.without_price == 1
    reasons = dict(rep.rejected)
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9]
    assert "at least 0" in reasons[4] and "finite" in reasons[5] and "above" in reasons[6]
    assert "quantity" in reasons[7] and "belongs to cart_add and purchase" in reasons[8] and "number" in reasons[9]
    s = revenue_summary(db, START, START)
    assert s.revenue == pytest.approx(19.99 * 2 + 5) and s.purchases_without_price == 1 and s.orders == 2
