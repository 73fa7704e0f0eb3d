"""The impact of a config version: counts per version from events written through EventLog (real SQLite), the
rates and Wilson intervals checked against hand counts and statsmodels, the z-test against statsmodels, and
zero counts reported as "not available" instead of crashing or leaking NaN. Also the config_version field of
the event log: what it accepts, what it refuses, and the event-file import."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights.event_import import import_events
from engine.insights.events import Event, EventLog, insert_rows
from engine.insights.impact import (INTERVAL_METHOD, TEST_METHOD, Rate, describe, logged_versions,
                                    previous_version, version_impact)

T0 = datetime(2024, 5, 1, 12)


def traffic(version: int | None, impressions: int, clicks: int, purchases: int, *, simulated: bool = False,
            session: str = "s") -> list[Event]:
    """`impressions` impressions, the first `clicks` of them clicked and the first `purchases` clicks bought,
    each with a cart add (carts are not compared: they must not leak into any rate)."""
    out = []
    for i in range(impressions):
        kw = dict(ts=T0 + timedelta(seconds=i), algorithm="vector_combined", strategy="balanced", position=i % 8,
                  simulated=simulated, config_version=version)
        out.append(Event("impression", f"{session}{i}", 100 + i, **kw))
        if i < clicks:
            out.append(Event("click", f"{session}{i}", 100 + i, **kw))
        if i < purchases:
            out += [Event("cart_add", f"{session}{i}", 100 + i, **kw), Event("purchase", f"{session}{i}", 100 + i, **kw)]
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Database:
    """v1: 400 impressions, 20 clicks, 6 purchases. v2: 380 impressions, 38 clicks, 5 purchases, plus simulated
    v2 traffic (100 impressions, 90 clicks, 50 purchases) and unversioned traffic, neither of which counts by
    default. v4: 50 impressions, no clicks. Nothing under v3. Shared by the module: no test writes to it."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('impact') / 'impact.db'}")
    log = EventLog(db)
    log.log_many(traffic(1, 400, 20, 6, session="a"))
    log.log_many(traffic(2, 380, 38, 5, session="b"))
    log.log_many(traffic(2, 100, 90, 50, simulated=True, session="sim"))
    log.log_many(traffic(None, 300, 300, 300, session="old"))
    log.log_many(traffic(4, 50, 0, 0, session="d"))
    return db


def test_rates_intervals_and_test_match_hand_counts_and_statsmodels(db):
    imp = version_impact(db, 2)
    assert imp.previous == 1 and imp.version == 2
    assert imp.before == {"impressions": 400, "clicks": 20, "carts": 6, "purchases": 6}
    assert imp.after == {"impressions": 380, "clicks": 38, "carts": 5, "purchases": 5}
    assert imp.interval_method == INTERVAL_METHOD == "Wilson score 95%"
    assert "proportions_ztest" in imp.test == TEST_METHOD and "two-sided" in imp.test
    expected = {"ctr": ((20, 400), (38, 380)), "conversion": ((6, 400), (5, 380)),
                "conversion_click": ((6, 20), (5, 38))}
    for change in imp.changes:
        (x0, n0), (x1, n1) = expected[change.name]
        assert (change.before.successes, change.before.trials) == (x0, n0)
        assert (change.after.successes, change.after.trials) == (x1, n1)
        assert change.before.value == pytest.approx(x0 / n0) and change.after.value == pytest.approx(x1 / n1)
        for rate, (x, n) in ((change.before, (x0, n0)), (change.after, (x1, n1))):
            low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
            assert (rate.low, rate.high) == pytest.approx((low, high), abs=1e-12)
        z, p = proportions_ztest([x1, x0], [n1, n0], value=0, alternative="two-sided", prop_var=False)
        assert change.difference == pytest.approx(x1 / n1 - x0 / n0)
        assert (change.z, change.p_value) == pytest.approx((z, p))
    assert imp.ctr.significant() is True  # 5% → 10% on ~400 impressions each: p ≈ 0.006
    assert imp.conversion.significant() is False


def test_simulated_traffic_counts_only_on_request(db):
    imp = version_impact(db, 2, include_simulated=True)
    assert imp.after == {"impressions": 480, "clicks": 128, "carts": 55, "purchases": 55}
    assert imp.before["impressions"] == 400


def test_previous_defaults_to_the_highest_earlier_version_with_events(db):
    assert logged_versions(db) == [1, 2, 4]
    assert previous_version(db, 4) == 2 and previous_version(db, 3) == 2 and previous_version(db, 1) is None
    assert version_impact(db, 4).previous == 2
    assert version_impact(db, 4, previous=1).previous == 1  # explicit: any other version
    assert version_impact(db, 1, previous=2).before["impressions"] == 380


def test_zero_counts_are_not_available_never_nan(db):
    imp = version_impact(db, 4)  # v4: 50 impressions, no clicks → purchases per click has no trials
    cc = imp.conversion_click
    assert cc.after.trials == 0 and cc.after.value is None and cc.after.interval is None
    assert (cc.difference, cc.z, cc.p_value, cc.significant()) == (None, None, None, None)
    assert imp.ctr.after.value == 0.0 and imp.ctr.after.interval == (0.0, pytest.approx(
        proportion_confint(0, 50, method="wilson")[1]))
    frame = imp.as_frame()
    assert not any(isinstance(v, float) and math.isnan(v) for v in frame.to_numpy().ravel())
    assert frame.set_index("metric").loc["Conversion per click", "after"] is None
    assert "no test" in describe(cc) and "n/a" not in describe(imp.ctr)


def test_a_version_without_events_has_nothing_to_compare(db):
    imp = version_impact(db, 1)
    assert imp.previous is None and imp.before["impressions"] == 0
    assert any("nothing to compare" in n for n in imp.notes)
    assert imp.ctr.p_value is None and imp.ctr.after.value == pytest.approx(20 / 400)
    empty = version_impact(db, 3, previous=1)
    assert empty.after["impressions"] == 0 and empty.ctr.after.interval is None
    assert any("version 3 has no impressions" in n for n in empty.notes)


def test_equal_all_failure_rates_test_as_no_difference(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'z.db'}")
    EventLog(db).log_many(traffic(1, 30, 0, 0, session="a") + traffic(2, 40, 0, 0, session="b"))
    ctr = version_impact(db, 2).ctr
    assert (ctr.difference, ctr.z, ctr.p_value) == (0.0, 0.0, 1.0)


def test_more_successes_than_trials_is_not_a_rate():
    r = Rate(5, 3)
    assert not r.available and r.value is None and r.low is None and r.high is None


@pytest.mark.parametrize("kwargs, message", [
    ({"version": 0}, "at least 1"), ({"version": "two"}, "whole number"), ({"version": True}, "whole number"),
    ({"version": 2.5}, "whole number"), ({"version": 2, "previous": 2}, "not with itself"),
    ({"version": 2, "previous": -1}, "at least 1"), ({"version": 2, "include_simulated": "yes"}, "True or False"),
])
def test_bad_arguments_are_refused(db, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        version_impact(db, **kwargs)


# ---- config_version in the event log ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "v2", [1], 2 ** 31])
def test_the_log_refuses_a_config_version_that_is_not_a_version_number(db, bad):
    before = EventLog(db).count()
    with pytest.raises(ValidationError, match="config_version"):
        EventLog(db).log(Event("impression", "x", 1, ts=T0), Event("click", "x", 1, ts=T0, config_version=bad))
    with pytest.raises(ValidationError, match="row 0: config_version"):
        with db.engine.begin() as conn:
            insert_rows(conn, [Event("click", "x", 1, ts=T0).validate().to_row() | {"config_version": bad}])
    assert EventLog(db).count() == before


def test_the_log_stores_a_config_version_and_impressions_carry_it(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    EventLog(db).log(Event("click", "x", 1, ts=T0, config_version=7), Event("click", "y", 2, ts=T0))
    EventLog(db).log_impressions([(3, 0, 0.9), (4, 1, 0.8)], session_id="z", algorithm="trending", ts=T0,
                                 config_version=8)
    with db.engine.connect() as conn:
        got = conn.execute(select(EventRow.session_id, EventRow.config_version).order_by(EventRow.id)).all()
    assert [tuple(r) for r in got] == [("x", 7), ("y", None), ("z", 8), ("z", 8)]


def test_event_files_carry_config_version_and_bad_values_are_that_rows_reject(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'i.db'}")
    csv = ("kind,ts,session_id,product_id,config_version\n"
           "impression,2024-05-01T10:00:00Z,s1,1,3\n"
           "click,2024-05-01T10:00:01Z,s1,1,3\n"
           "impression,2024-05-01T10:00:02Z,s2,2,\n"
           "impression,2024-05-01T10:00:03Z,s3,3,0\n"
           "impression,2024-05-01T10:00:04Z,s4,4,three\n").encode()
    report = import_events(db, csv, "generic")
    assert report.inserted == 3
    assert [(line, "config_version" in why) for line, why in report.rejected] == [(5, True), (6, True)]
    jsonl = b'{"kind": "purchase", "ts": "2024-05-01T10:00:05Z", "session_id": "s1", "product_id": 1, ' \
            b'"config_version": 3}\n{"kind": "click", "ts": 1714557600000, "session_id": "s5", "product_id": 5, ' \
            b'"config_version": 1.5}\n'
    report = import_events(db, jsonl, "generic")
    assert report.inserted == 1 and len(report.rejected) == 1 and "config_version" in report.rejected[0][1]
    assert version_impact(db, 3).after == {"impressions": 1, "clicks": 1, "carts": 0, "purchases": 1}
    again = import_events(db, csv, "generic")
    assert again.inserted == 0 and again.duplicates == 3  # the version is part of a row's identity, stably
