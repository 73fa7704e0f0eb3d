"""The Analytics page over one period: every chart, table and headline figure checked against independent SQL
over the raw `events` rows (not against the engine function that drew it), for the period the picker shows.

Read-only checks use the demo data prepared once per session (simulated traffic over the 14 days before the
session started, tests/console_fixtures.py); checks that write get a data folder of their own."""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from console_fixtures import goto, section
from engine.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
NBSP = "\u202f"

# An impression is a tile a browser reported visible; a served row counts only for a list no browser reported
# on (the rule), written here from the rule, not from the engine's code.
IMPRESSION = ("CASE WHEN e.kind = 'impression' THEN 1 WHEN e.kind = 'served' AND (e.request_id IS NULL OR NOT "
              "EXISTS (SELECT 1 FROM events r WHERE r.request_id = e.request_id AND r.kind = 'impression')) "
              "THEN 1 ELSE 0 END")
KINDS = {"clicks": "click", "carts": "cart_add", "purchases": "purchase"}


# ---- independent SQL ------------------------------------------------------------------------------------------
def window(start: date, end: date) -> dict:
    return {"lo": datetime.combine(start, time()), "hi": datetime.combine(end + timedelta(days=1), time())}


def sql_counts(db, start: date, end: date, by: str | None = None, simulated: bool | None = None) -> pd.DataFrame:
    """Impressions, clicks, carts, purchases per `by` (or in all) over whole UTC days, read from raw rows."""
    group = f"e.{by}" if by else "'all'"
    sums = ", ".join([f"SUM({IMPRESSION}) AS impressions"]
                     + [f"SUM(CASE WHEN e.kind = '{k}' THEN 1 ELSE 0 END) AS {c}" for c, k in KINDS.items()])
    sim = "" if simulated is None else f" AND e.simulated = {int(simulated)}"
    q = (f"SELECT {group} AS g, {sums} FROM events e WHERE e.ts >= :lo AND e.ts < :hi{sim}"
         + (f" AND e.{by} IS NOT NULL" if by else "") + " GROUP BY g ORDER BY g")
    with db.engine.connect() as conn:
        return pd.read_sql(text(q), conn, params=window(start, end)).set_index("g")


def sql_funnel(db, start: date, end: date) -> dict[str, tuple[int, int]]:
    """{stage: (events, distinct sessions)} over whole UTC days; the first stage is what was shown (served and
    impression rows, counted by the impression rule; a session was shown something when it has either)."""
    stage = "CASE WHEN e.kind IN ('served', 'impression') THEN 'impression' ELSE e.kind END"
    q = (f"SELECT {stage} AS stage, SUM(CASE WHEN e.kind IN ('served', 'impression') THEN {IMPRESSION} ELSE 1 END), "
         "COUNT(DISTINCT e.session_id) FROM events e WHERE e.ts >= :lo AND e.ts < :hi GROUP BY stage")
    with db.engine.connect() as conn:
        return {k: (int(n), int(s)) for k, n, s in conn.execute(text(q), window(start, end))}


def last_event_day(db) -> date:
    with db.engine.connect() as conn:
        last = conn.execute(text("SELECT MAX(ts) FROM events")).scalar_one()
    return (last if isinstance(last, datetime) else datetime.fromisoformat(str(last))).date()


def default_week(db) -> tuple[date, date]:
    """Last 7 days ending today (UTC), as the issue asks; the demo's traffic runs up to today."""
    today = datetime.now(timezone.utc).date()
    assert last_event_day(db) >= today - timedelta(days=6), "the demo traffic should reach into the last week"
    return today - timedelta(days=6), today


# ---- reading the page -----------------------------------------------------------------------------------------
def open_page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return goto(at, name)


def spec(at: AppTest, key: str) -> dict:
    return json.loads(at.get_by_key(key).get("plotly_chart")[0].proto.spec)


def array(v) -> np.ndarray:
    import base64

    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape(tuple(int(s) for s in str(v["shape"]).split(","))) if "shape" in v else out
    return np.asarray(v)


def shown_table(at: AppTest, key: str) -> pd.DataFrame:
    return at.get_by_key(key).dataframe[0].value


def number(s: str) -> int:
    return int(s.replace(NBSP, "").replace(",", ""))


CHARTS = ("an-ctr-algorithm", "an-conversion_impression-algorithm", "an-ctr-strategy",
          "an-conversion_impression-strategy", "an-funnel", "an-position", "an-daily", "an-experiment")
RATES, FUNNEL, PRODUCTS, EXPERIMENTS = ("Rates and revenue", "Funnel and trends", "Products and search",
                                        "Experiments and impact")
SECTION_OF = {"an-funnel": FUNNEL, "an-position": FUNNEL, "an-daily": FUNNEL, "an-experiment": EXPERIMENTS}


def titles(at: AppTest, keys) -> dict[str, str]:
    """The titles of these charts, each read in its section of the page (only the open section runs); the first
    section is open again after."""
    out = {}
    for name in dict.fromkeys(SECTION_OF.get(k, RATES) for k in keys):
        section(at, name)
        out.update({k: spec(at, k)["layout"]["title"]["text"] for k in keys if SECTION_OF.get(k, RATES) == name})
    section(at, RATES)
    return out


# ---- tests ----------------------------------------------------------------------------------------------------
def test_one_period_by_default_the_last_7_days_named_by_every_chart_and_the_headline(console_env, runtime):
    at = open_page("analytics")
    start, end = default_week(runtime.db)
    assert at.selectbox(key="period_preset").value == "7"
    span = f"last 7 days ({start} – {end})"
    head = " ".join(m.value for m in at.get_by_key("an-headline").markdown)
    assert span.capitalize() in head and f"previous 7 days ({start - timedelta(days=7)} – " \
                                           f"{start - timedelta(days=1)})" in head
    for key, title in titles(at, CHARTS).items():
        assert span in title, key


def test_headline_figures_and_deltas_equal_sql_over_the_raw_events(console_env, runtime):
    at = open_page("analytics")
    start, end = default_week(runtime.db)
    now = sql_counts(runtime.db, start, end).loc["all"]
    before = sql_counts(runtime.db, start - timedelta(days=7), start - timedelta(days=1)).loc["all"]
    shown = {m.label: m for m in at.get_by_key("an-figures").metric}
    assert number(shown["Impressions"].value) == now["impressions"] > 0
    assert number(shown["Clicks"].value) == now["clicks"]
    assert number(shown["Purchases"].value) == now["purchases"]
    ctr, ctr0 = now["clicks"] / now["impressions"], before["clicks"] / before["impressions"]
    assert shown["CTR"].value == f"{100 * ctr:.2f}%"
    assert shown["CTR"].delta == f"{100 * (ctr - ctr0):+.2f} points"
    conv, conv0 = now["purchases"] / now["impressions"], before["purchases"] / before["impressions"]
    assert shown["Conversion"].value == f"{100 * conv:.2f}%"
    assert shown["Conversion"].delta == f"{100 * (conv - conv0):+.2f} points"
    assert shown["Clicks"].delta == f"{100 * (now['clicks'] / before['clicks'] - 1):+.1f}%"
    per = sql_counts(runtime.db, start, end, "algorithm")
    per = per[per["impressions"] > 0]
    head = " ".join(m.value for m in at.get_by_key("an-headline").markdown)
    for num, label in (("clicks", "CTR"), ("purchases", "conversion")):
        rate = (per[num] / per["impressions"]).sort_index().sort_values(ascending=False, kind="stable")
        best, second = rate.index[0], rate.index[1]
        assert f"Best {label}: **{best}**, {100 * rate.iloc[0]:.1f}% (95% CI" in head
        assert f"ahead of {second} at {100 * rate.iloc[1]:.1f}%" in head


def sql_revenue(db, start: date, end: date, by: str | None = None) -> pd.DataFrame:
    """Revenue (price × quantity, 1 when absent) and orders of the priced purchases, per `by` value of the
    purchase itself, over whole UTC days; purchases without a price counted apart."""
    group = f"CAST(e.{by} AS TEXT)" if by else "'all'"
    q = (f"SELECT {group} AS g, SUM(CASE WHEN e.price IS NOT NULL THEN e.price * COALESCE(e.quantity, 1) "
         "ELSE 0 END) AS revenue, SUM(CASE WHEN e.price IS NOT NULL THEN 1 ELSE 0 END) AS orders, "
         "SUM(CASE WHEN e.price IS NULL THEN 1 ELSE 0 END) AS unpriced FROM events e "
         "WHERE e.kind = 'purchase' AND e.ts >= :lo AND e.ts < :hi GROUP BY g")
    with db.engine.connect() as conn:
        return pd.read_sql(text(q), conn, params=window(start, end)).set_index("g")


def money(s: str) -> float:
    return float(s.replace(NBSP, "").replace(",", ""))


def test_revenue_figures_and_chart_equal_sql_over_the_priced_purchases(console_env, runtime):
    at = open_page("analytics")
    start, end = default_week(runtime.db)
    now = sql_revenue(runtime.db, start, end).loc["all"]
    before = sql_revenue(runtime.db, start - timedelta(days=7), start - timedelta(days=1)).loc["all"]
    assert now["orders"] > 0
    shown = {m.label: m for m in at.get_by_key("an-money").metric}
    assert money(shown["Revenue"].value) == pytest.approx(now["revenue"], abs=0.005)
    assert shown["Revenue"].delta == f"{100 * (now['revenue'] / before['revenue'] - 1):+.1f}%"
    assert money(shown["Average order"].value) == pytest.approx(now["revenue"] / now["orders"], abs=0.005)
    shows = sql_counts(runtime.db, start, end).loc["all", "impressions"]
    assert money(shown["Revenue per 1,000 impressions"].value) == pytest.approx(1000 * now["revenue"] / shows,
                                                                                 abs=0.005)
    # the demo's purchases all name their list, so attribution is the purchase's own algorithm / strategy
    for by in ("algorithm", "strategy"):
        if by != "algorithm":
            at.radio(key="an_revenue_by").set_value(by).run()
        want = sql_revenue(runtime.db, start, end, by)
        (bars,) = spec(at, "an-revenue")["data"]
        x = list(array(bars["x"]))
        assert sorted(x) == sorted(want.index)
        np.testing.assert_allclose(array(bars["y"]), [want.loc[g, "revenue"] for g in x])
        table = shown_table(at, "an-revenue-table")
        assert list(table["orders"]) == [int(want.loc[g, "orders"]) for g in table[by]]
        low, high = array(bars["error_y"]["arrayminus"]), array(bars["error_y"]["array"])
        assert (low >= -1e-9).all() and (high >= -1e-9).all()  # the interval holds the total
        assert f"last 7 days ({start} – {end})" in spec(at, "an-revenue")["layout"]["title"]["text"]


@pytest.mark.parametrize("by", ["algorithm", "strategy"])
def test_rate_charts_and_tables_equal_sql_for_the_period(console_env, runtime, by):
    at = open_page("analytics")
    start, end = default_week(runtime.db)
    want = sql_counts(runtime.db, start, end, by)
    want = want[want["impressions"] > 0]
    table = shown_table(at, f"an-rates-{by}")
    names = [str(n).removesuffix(" (retired)") for n in table[by]]
    assert sorted(names) == sorted(want.index)
    for col in ("impressions", "clicks", "purchases"):
        assert list(table[col]) == [int(want.loc[n, col]) for n in names]
    headers = {c: v.get("label") for c, v in json.loads(at.get_by_key(f"an-rates-{by}").dataframe[0].proto.columns)
               .items()}
    assert headers["conversion_impression_low"] == "Conversion, 95% low" and headers["carts"] == "Cart adds"
    for key, num in ((f"an-ctr-{by}", "clicks"), (f"an-conversion_impression-{by}", "purchases")):
        (bars,) = spec(at, key)["data"]
        x = [str(n).removesuffix(" (retired)") for n in array(bars["x"])]
        np.testing.assert_allclose(array(bars["y"]), [want.loc[n, num] / want.loc[n, "impressions"] for n in x])


def test_funnel_by_sessions_by_default_chart_equals_table_equals_sql(console_env, runtime):
    at = section(open_page("analytics"), FUNNEL)
    start, end = default_week(runtime.db)
    raw = sql_funnel(runtime.db, start, end)
    assert at.radio(key="an_funnel_by").value == "sessions"
    for view, i in (("sessions", 1), ("events", 0)):
        if view == "events":
            at.radio(key="an_funnel_by").set_value("events").run()
        (trace,) = spec(at, "an-funnel")["data"]
        table = shown_table(at, "an-funnel-table")
        stages = ["impression", "click", "cart_add", "purchase"]
        assert list(array(trace["x"])) == list(table[view]) == [raw.get(k, (0, 0))[i] for k in stages]
        assert list(array(trace["y"])) == list(table["stage"]) == ["Shown", "Clicked", "Added to cart", "Purchased"]
        rate = table["session_rate" if view == "sessions" else "event_rate"].to_numpy(dtype=float)
        counts = np.array([raw.get(k, (0, 0))[i] for k in stages], dtype=float)
        np.testing.assert_allclose(rate[1:], counts[1:] / counts[:-1])
        assert f"Funnel by {view}" in spec(at, "an-funnel")["layout"]["title"]["text"]


def test_daily_trend_and_position_curve_equal_sql(console_env, runtime):
    at = section(open_page("analytics"), FUNNEL)
    start, end = default_week(runtime.db)
    q = (f"SELECT date(e.ts) AS day, e.algorithm AS algorithm, SUM({IMPRESSION}) AS impressions, "
         "SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END) AS clicks FROM events e "
         "WHERE e.ts >= :lo AND e.ts < :hi AND e.algorithm IS NOT NULL GROUP BY day, e.algorithm")
    with runtime.db.engine.connect() as conn:
        daily = pd.read_sql(text(q), conn, params=window(start, end))
    for t in spec(at, "an-daily")["data"]:
        rows = daily[daily["algorithm"] == t["name"]].sort_values("day")
        assert [pd.Timestamp(x).date() for x in array(t["x"])] == [date.fromisoformat(d) for d in rows["day"]]
        np.testing.assert_allclose(array(t["y"]), rows["clicks"] / rows["impressions"])
    q = (f"SELECT e.algorithm AS algorithm, e.position AS position, SUM({IMPRESSION}) AS impressions, "
         "SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END) AS clicks FROM events e WHERE e.ts >= :lo AND "
         "e.ts < :hi AND e.algorithm IS NOT NULL AND e.position IS NOT NULL GROUP BY e.algorithm, e.position")
    with runtime.db.engine.connect() as conn:
        curve = pd.read_sql(text(q), conn, params=window(start, end))
    traces = spec(at, "an-position")["data"]
    assert {t["name"] for t in traces} == set(curve["algorithm"])
    for t in traces:
        rows = curve[curve["algorithm"] == t["name"]].sort_values("position")
        assert list(array(t["x"])) == list(rows["position"])
        np.testing.assert_allclose(array(t["y"]), rows["clicks"] / rows["impressions"])


def test_top_products_read_by_sku_title_and_colour_and_count_as_sql(console_env, runtime):
    at = section(open_page("analytics"), PRODUCTS)
    start, end = default_week(runtime.db)
    table = shown_table(at, "an-top")
    assert list(table.columns[:5]) == ["thumbnail", "sku", "title", "colour", "product_id"]
    q = ("SELECT e.product_id, p.sku, p.title, p.colour, SUM(CASE WHEN e.kind = 'purchase' THEN 1 ELSE 0 END) "
         "AS purchases FROM events e JOIN products p ON p.id = e.product_id WHERE e.ts >= :lo AND e.ts < :hi "
         "GROUP BY e.product_id, p.sku, p.title, p.colour")
    with runtime.db.engine.connect() as conn:
        raw = pd.read_sql(text(q), conn, params=window(start, end)).set_index("product_id")
    top = raw.sort_values("purchases", ascending=False)["purchases"]
    assert list(table["purchases"]) == list(top.iloc[:len(table)])
    for row in table.to_dict("records"):
        facts = raw.loc[row["product_id"]]
        assert (row["sku"], row["title"], row["colour"], row["purchases"]) == \
            (facts["sku"], facts["title"], facts["colour"], facts["purchases"])
        assert str(row["thumbnail"]).startswith("data:image/jpeg;base64,")
    grid = at.get_by_key("an-top").dataframe[0].proto
    headers = {c: v.get("label") for c, v in json.loads(grid.columns).items()}
    assert [headers[c] for c in ("sku", "title", "colour", "ctr", "conversion_click")] == \
        ["SKU", "Title", "Colour", "CTR", "Purchases per click"]
    assert "product_id" not in grid.column_order and "sku" in grid.column_order  # ids only in the CSV
    from console.tables import csv_bytes

    csv = pd.read_csv(pd.io.common.BytesIO(csv_bytes(table)))
    assert "thumbnail" not in csv.columns and list(csv["product_id"]) == list(table["product_id"])


def test_a_custom_period_moves_every_chart_and_a_bad_range_is_refused(console_env, runtime):
    at = open_page("analytics")
    start, end = default_week(runtime.db)
    day = end - timedelta(days=2)
    at.selectbox(key="period_preset").set_value("custom").run()
    at.date_input(key="period_dates").set_value((day, day)).run()
    assert not at.exception and not at.error
    want = sql_counts(runtime.db, day, day, "algorithm")
    (bars,) = spec(at, "an-ctr-algorithm")["data"]
    x = list(array(bars["x"]))
    np.testing.assert_allclose(array(bars["y"]), [want.loc[n, "clicks"] / want.loc[n, "impressions"] for n in x])
    for key, title in titles(at, CHARTS).items():
        assert f"custom range ({day})" in title, key
    at.date_input(key="period_dates").set_value((end, start)).run()
    assert len(at.error) == 1 and "inverted" in at.error[0].value
    assert len(at.get("plotly_chart")) == 0
    at.date_input(key="period_dates").set_value((start,)).run()
    assert len(at.error) == 1 and "end date" in at.error[0].value
    goto(at, "overview")  # the period is shared
    assert at.selectbox(key="period_preset").value == "custom"
    at.selectbox(key="period_preset").set_value("7").run()


def test_a_period_with_dropped_lists_is_labelled_incomplete_on_every_view(own_data):
    from engine.insights.events import Event, EventLog
    from engine.insights.gaps import record_gap

    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    EventLog(own_data.db).log_many(
        [Event("impression", "s-1", p, ts=now, algorithm="vector_text", strategy="balanced", position=p)
         for p in range(4)] + [Event("click", "s-1", 0, ts=now, algorithm="vector_text", position=0)])
    at = AppTest.from_file(str(ROOT / "app_pages" / "analytics.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.warning
    assert "incomplete" not in spec(at, "an-ctr-algorithm")["layout"]["title"]["text"]

    record_gap(own_data.db, now - timedelta(minutes=5), now - timedelta(minutes=4), 12)
    at.run()
    assert any(w.value.startswith("Incomplete period: 12 served list(s) were not logged") for w in at.warning)
    for key, title in titles(at, ("an-ctr-algorithm", "an-conversion_impression-strategy", "an-funnel",
                                  "an-position", "an-daily")).items():
        assert title.endswith(", incomplete data</sup>"), key
    assert "incomplete data" in " ".join(m.value for m in at.get_by_key("an-headline").markdown)
    from engine.catalog.events import EventImportRow

    with own_data.db.session() as s:  # an import still writing into today (its process holds the row "running")
        s.add(EventImportRow(source="late.csv", status="running", rows=500, first_day=(now.date() - date(1970, 1, 1))
                             .days, last_day=(now.date() - date(1970, 1, 1)).days))
    at.run()
    assert any("An event import (late.csv) is still running" in w.value for w in at.warning)
    assert titles(at, ["an-daily"])["an-daily"].endswith(", incomplete data</sup>")
    at.selectbox(key="period_preset").set_value("custom").run()  # a period before the gap is complete again
    day = (now - timedelta(days=3)).date()
    at.date_input(key="period_dates").set_value((day - timedelta(days=1), day)).run()
    assert not at.warning
    assert any("No events in the custom range" in i.value for i in at.info)


@pytest.mark.browser
def test_the_period_pages_in_a_browser(page, console_server, screenshots):
    """Analytics, Overview and Experiments in Chromium: the headline names the period, charts draw, no error;
    a screenshot of each."""
    from playwright.sync_api import expect

    from test_console_browser import settle, snapshot

    start, end = (datetime.now(timezone.utc).date() - timedelta(days=6), datetime.now(timezone.utc).date())
    for path, name, must in (("analytics", "analytics-period", f"Last 7 days ({start} – {end})"),
                             ("", "overview-shop", f"Recommendations, last 7 days ({start} – {end})"),
                             ("experiments", "experiments-planner", "Plan an experiment")):
        page.goto(f"{console_server.url}/{path}")
        settle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_text(must).first).to_be_visible()
        if path == "analytics":
            expect(page.locator(".st-key-an-ctr-algorithm .main-svg").first).to_be_visible(timeout=30_000)
            page.get_by_role("tab", name=FUNNEL).click()  # only the open section runs
            for key in ("an-funnel", "an-daily"):
                expect(page.locator(f".st-key-{key} .main-svg").first).to_be_visible(timeout=30_000)
        snapshot(page, screenshots, name)


def test_search_insights_equal_sql_and_a_failed_query_links_to_rules(own_data):
    from engine.insights.events import Event, EventLog
    from engine.insights.searches import record_search

    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    log = EventLog(own_data.db)
    log.log_many([Event("impression", "s-1", 1, ts=now, algorithm="search_text", position=0),
                  Event("click", "s-1", 1, ts=now, algorithm="search_text", position=0, request_id="rq-1")])
    searches = [("Red Dress", 5, False, "rq-1"), ("red  dress", 5, False, "rq-2"), ("red dress", 4, False, None),
                ("blue unicorn", 0, False, "rq-3"), ("Blue unicorn", 0, False, "rq-4"), ("gold", 4, True, "rq-5"),
                ("shoes", 10, False, "rq-6")]
    for q, n, poor, rid in searches:
        record_search(own_data.db, kind="text", query=q, results=n, no_good_match=poor, request_id=rid, ts=now)
    record_search(own_data.db, kind="photo", results=8, ts=now - timedelta(days=30))  # outside the period

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    section(goto(at, "analytics"), PRODUCTS)
    start = datetime.now(timezone.utc).date() - timedelta(days=6)
    q = ("SELECT lower(trim(query)) AS q, COUNT(*) AS searches, SUM(CASE WHEN results = 0 THEN 1 ELSE 0 END) AS "
         "zero, SUM(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.request_id = s.request_id AND e.kind = 'click') "
         "THEN 1 ELSE 0 END) AS clicked FROM searches s WHERE ts >= :lo "
         "GROUP BY lower(replace(trim(query), '  ', ' '))")
    with own_data.db.engine.connect() as conn:
        want = {r.q.replace("  ", " "): r for r in conn.execute(text(q), {"lo": datetime.combine(start, time())})}
    top = shown_table(at, "an-search-top")
    assert [str(x).lower() for x in top["query"]] == ["red dress", "blue unicorn", "gold", "shoes"]
    for row in top.to_dict("records"):
        w = want[str(row["query"]).lower()]
        assert (row["searches"], row["zero_results"], row["clicked"]) == (w.searches, w.zero, w.clicked)
    failed = shown_table(at, "an-search-failed")
    assert [str(x).lower() for x in failed["query"]] == ["blue unicorn", "gold"]
    unclicked = shown_table(at, "an-search-unclicked")
    assert [str(x).lower() for x in unclicked["query"]] == ["gold", "shoes"]
    (link,) = at.get_by_key("an-search-rule").get("page_link")
    assert "Blue unicorn" in link.proto.label or "blue unicorn" in link.proto.label
    assert link.proto.page.endswith("rules") and "query=" in link.proto.query_string


# ---- the period's rules, without a page ---------------------------------------------------------------------
def test_last_days_end_today_or_on_the_logs_last_day_and_the_previous_period_abuts():
    from console import period as P
    from engine.insights.period import MAX_DAYS

    today = date(2026, 11, 28)
    p = P.last_days(7, last_event_day=today - timedelta(days=3), now=today)
    assert (p.start, p.end, p.text()) == (date(2026, 11, 22), today, "last 7 days (2026-11-22 – 2026-11-28)")
    assert (p.previous().start, p.previous().end) == (date(2026, 11, 15), date(2026, 11, 21))
    old = P.last_days(7, last_event_day=date(2024, 5, 1), now=today)  # nothing in the last 7 days
    assert (old.start, old.end) == (date(2024, 4, 25), date(2024, 5, 1))
    assert old.text().startswith("the 7 days up to the log's last event")
    assert P.choose("custom", (date(2024, 5, 2), date(2024, 5, 2)), last_event_day=None).days == 1
    for bad, message in ((None, "pick a date range"), ((date(2024, 5, 2),), "end date too"),
                         ((date(2024, 5, 3), date(2024, 5, 1)), "inverted"),
                         ((date(2024, 1, 1) - timedelta(days=MAX_DAYS), date(2024, 1, 1)), "at most")):
        with pytest.raises(ValidationError, match=message):
            P.choose("custom", bad, last_event_day=None)
    with pytest.raises(ValidationError, match="unknown period"):
        P.choose("365", None, last_event_day=None)
