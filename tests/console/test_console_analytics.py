"""The Analytics page's filters and event data, driven through AppTest and checked against
engine.insights.analytics computed here for the same scope; and the Analytics page in a real Chromium. The
period's charts against independent SQL: test_analytics_period.py; the Experiments page:
test_experiments_page.py.

Read-only checks use the demo data prepared once per session, simulated traffic included
(tests/console_fixtures.py). Checks that write events or experiments get a data folder of their own, so the
shared demo data stays as prepared for every other test."""
from __future__ import annotations

import base64
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from engine.insights.analytics import Scope, funnel, metrics
from engine.catalog.db import Database
from engine.insights.events import Event, EventLog
from engine.catalog.events import EventRow
from engine.settings import Settings
from engine.insights.simulate import simulated_count

from console_fixtures import goto, section

from test_console_browser import settle, snapshot

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
CHART_TIMEOUT = 30_000  # ms: plotly draws a few seconds after the script ends
RATES = ("ctr", "conversion_impression")
RATE_TABLE = ["impressions", "clicks", "carts", "purchases", "ctr", "ctr_low", "ctr_high", "conversion_impression",
              "conversion_impression_low", "conversion_impression_high"]


# ---- helpers -------------------------------------------------------------------------------------------------
def open_page(name: str) -> AppTest:
    """The page as the console shows it: app.py, then a switch to the page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return goto(at, name)


def open_page_alone(name: str) -> AppTest:
    """The page file run on its own, for a data folder of a test's own: app.py would prepare the demo catalog
    and its simulated traffic there on first start, and these tests need an empty event log."""
    at = AppTest.from_file(str(ROOT / "app_pages" / f"{name}.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def array(v) -> np.ndarray:
    """A plotly array from the chart's JSON: plain lists, or the typed {"dtype", "bdata"} form."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape(tuple(int(s) for s in str(v["shape"]).split(","))) if "shape" in v else out
    return np.asarray(v)


def traces(at: AppTest, key: str) -> list[dict]:
    """The traces of the plotly chart in the keyed container."""
    return json.loads(at.get_by_key(key).get("plotly_chart")[0].proto.spec)["data"]


def traces_title(at: AppTest, key: str) -> str:
    return json.loads(at.get_by_key(key).get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]


def shown_table(at: AppTest, key: str) -> pd.DataFrame:
    return at.get_by_key(key).dataframe[0].value


def shown_scope(at: AppTest) -> Scope:
    """The Scope the sidebar asks for: the period (a preset, or the custom dates), the algorithms, simulated
    or not. A preset of N days ends today, or on the log's last day when the log has nothing in them."""
    preset = at.selectbox(key="period_preset").value
    if preset == "custom":
        start, end = at.date_input(key="period_dates").value
    else:
        from engine.runtime import shared

        last, today = event_days(shared().db)[1], datetime.now(timezone.utc).date()
        end = today if last >= today - timedelta(days=int(preset) - 1) else last
        start = end - timedelta(days=int(preset) - 1)
    algos = tuple(at.multiselect(key="an_algorithms").value)
    return Scope(start=start, end=end, algorithms=algos,
                 simulated=None if at.checkbox(key="an_simulated").value else False)


def named_rates(db, by: str, scope: Scope) -> pd.DataFrame:
    m = metrics(db, by, scope)
    return m[m[by].notna()].reset_index(drop=True)


def event_days(db) -> tuple[date, date]:
    with db.engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(EventRow.ts), func.max(EventRow.ts))).one()
    return lo.date(), hi.date()


def assert_rate_bars(bars: dict, expected: pd.DataFrame, by: str, rate: str) -> None:
    """Bars of `rate` per `by` with the 95% Wilson interval as asymmetric error bars."""
    rows = expected[expected[rate].notna()]
    assert list(array(bars["x"])) == list(rows[by])
    np.testing.assert_allclose(array(bars["y"]), rows[rate])
    np.testing.assert_allclose(array(bars["error_y"]["array"]), rows[f"{rate}_high"] - rows[rate])
    np.testing.assert_allclose(array(bars["error_y"]["arrayminus"]), rows[rate] - rows[f"{rate}_low"])


def assert_same_table(shown: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(shown.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)


def lines_by_name(chart: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {t["name"]: (array(t["x"]), array(t["y"])) for t in chart}


# ---- Analytics: filters (the period's own checks: test_analytics_period.py) ---------------------------------------
def test_algorithm_filter_reduces_every_chart_to_that_algorithm(console_env, runtime):
    at = open_page("analytics")
    algo = "vector_combined"
    assert algo in at.multiselect(key="an_algorithms").options
    at.multiselect(key="an_algorithms").set_value([algo]).run()
    assert not at.exception
    scope = shown_scope(at)
    assert scope.algorithms == (algo,)
    for rate in RATES:
        (bars,) = traces(at, f"an-{rate}-algorithm")
        assert list(array(bars["x"])) == [algo]
        assert_rate_bars(bars, named_rates(runtime.db, "algorithm", scope), "algorithm", rate)
        (bars,) = traces(at, f"an-{rate}-strategy")
        assert_rate_bars(bars, named_rates(runtime.db, "strategy", scope), "strategy", rate)
    assert "the only algorithm" in " ".join(m.value for m in at.get_by_key("an-headline").markdown)
    section(at, "Funnel and trends")  # the filter holds in every section
    assert set(lines_by_name(traces(at, "an-position"))) == {algo}
    assert set(lines_by_name(traces(at, "an-daily"))) == {algo}
    assert list(array(traces(at, "an-funnel")[0]["x"])) == list(funnel(runtime.db, scope)["sessions"])
    all_traffic = funnel(runtime.db, Scope())["events"].iloc[0]
    assert funnel(runtime.db, scope)["events"].iloc[0] < all_traffic


# ---- Analytics: event data -----------------------------------------------------------------------------------
UPLOAD = (
    "kind,ts,session_id,product_id,algorithm,strategy,position\n"
    "impression,2024-05-01T10:00:00Z,up-1,11,upload_algo,balanced,0\n"
    "impression,2024-05-01T10:00:00Z,up-1,12,upload_algo,balanced,1\n"
    "glance,2024-05-01T10:00:05Z,up-1,11,upload_algo,balanced,0\n"
    "click,2024-05-01T10:00:09Z,up-1,11,upload_algo,balanced,0\n"
    "click,yesterday,up-1,12,upload_algo,balanced,1\n"
)


def test_event_upload_reports_rejected_lines_and_feeds_the_charts(own_data):
    at = section(open_page_alone("analytics"), "Event data")
    assert any("event log is empty" in i.value for i in at.info)
    at.file_uploader(key="an_events_file").upload("events.csv", UPLOAD.encode(), "text/csv").run()
    at.button(key="an_events_import").click().run()
    assert not at.exception and not at.error
    report = {m.label: m.value for m in at.get_by_key("an-import-report").metric}
    assert report == {"Rows": "5", "Inserted": "3", "Already present": "0", "Rejected": "2"}
    rejected = shown_table(at, "an-rejected")
    assert list(rejected["line"]) == [4, 6]
    assert "unknown event kind 'glance'" in rejected["reason"][0] and "ts" in rejected["reason"][1]
    assert at.get_by_key("an-rejected").get("download_button")[0].label == "CSV"

    report_then = {m.label: m.value for m in at.get_by_key("an-import-report").metric}
    section(at, "Rates and revenue")
    # the last 7 days hold no event: the period ends on the log's last day instead, and says so
    assert "the 7 days up to the log's last event (2024-04-25 – 2024-05-01)" in traces_title(at, "an-ctr-algorithm")
    (bars,) = traces(at, "an-ctr-algorithm")
    assert list(array(bars["x"])) == ["upload_algo"] and list(array(bars["y"])) == [0.5]  # 1 click, 2 impressions

    section(at, "Event data")
    assert {m.label: m.value for m in at.get_by_key("an-import-report").metric} == report_then  # kept
    at.file_uploader(key="an_events_file").upload("events.csv", UPLOAD.encode(), "text/csv").run()
    at.button(key="an_events_import").click().run()  # the same file again adds nothing
    report = {m.label: m.value for m in at.get_by_key("an-import-report").metric}
    assert report["Inserted"] == "0" and report["Already present"] == "3" and report["Rejected"] == "2"
    assert EventLog(own_data.db).count() == 3


def test_simulated_traffic_is_excluded_on_request_and_removed_only_after_confirmation(own_data):
    day = datetime(2024, 6, 3, 12)
    real = [Event("impression", "real-1", p, ts=day, algorithm="vector_text", position=p) for p in range(4)]
    real.append(Event("click", "real-1", 0, ts=day, algorithm="vector_text", position=0))
    fake = [Event("impression", "sim-1", p, ts=day, algorithm="trending", position=p, simulated=True)
            for p in range(5)]
    EventLog(own_data.db).log_many(real + fake)

    at = open_page_alone("analytics")
    assert list(array(traces(at, "an-ctr-algorithm")[0]["x"])) == ["trending", "vector_text"]
    at.checkbox(key="an_simulated").uncheck().run()
    (bars,) = traces(at, "an-ctr-algorithm")
    assert list(array(bars["x"])) == ["vector_text"] and list(array(bars["y"])) == [0.25]
    section(at, "Funnel and trends")
    assert list(array(traces(at, "an-funnel")[0]["x"])) == [1, 1, 0, 0]  # sessions: the one real session
    at.radio(key="an_funnel_by").set_value("events").run()
    assert list(array(traces(at, "an-funnel")[0]["x"])) == [4, 1, 0, 0]
    at.checkbox(key="an_simulated").check().run()

    section(at, "Event data")
    remove = at.button(key="an_sim_remove")
    assert remove.disabled  # not before the confirmation
    at.checkbox(key="an_sim_confirm").check().run()
    assert not at.button(key="an_sim_remove").disabled
    at.button(key="an_sim_remove").click().run()
    assert not at.exception
    assert any("Removed 5 simulated events" in s.value for s in at.success)
    assert simulated_count(own_data.db) == 0 and EventLog(own_data.db).count() == 5
    assert any("no simulated events" in i.value for i in at.info)
    section(at, "Rates and revenue")
    assert list(array(traces(at, "an-ctr-algorithm")[0]["x"])) == ["vector_text"]


# ---- a real browser ------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_analytics_in_a_browser_draws_its_charts_and_downloads_the_table(page: Page, console_server, screenshots):
    page.goto(console_server.url)
    settle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Analytics").click()
    settle(page)
    expect(page).to_have_url(f"{console_server.url}/analytics")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    db = Database(Settings(data_dir=console_server.data_dir).sql_url)
    today = datetime.now(timezone.utc).date()
    expected = named_rates(db, "algorithm", Scope(start=today - timedelta(days=6), end=today))  # the default period
    ticks = page.locator(".st-key-an-ctr-algorithm .xaxislayer-above .xtick text")
    expect(ticks).to_have_text(list(expected["algorithm"]), timeout=CHART_TIMEOUT)
    for key in ("an-conversion_impression-algorithm", "an-ctr-strategy"):
        expect(page.locator(f".st-key-{key} .main-svg").first).to_be_visible(timeout=CHART_TIMEOUT)
    expect(page.locator(".st-key-an-ctr-algorithm .errorbar")).to_have_count(len(expected))
    expect(page.locator(".st-key-an-funnel")).to_have_count(0)  # only the open section runs

    with page.expect_download() as got:
        page.locator(".st-key-an-rates-algorithm").get_by_test_id("stDownloadButton").get_by_role("button").click()
    csv = pd.read_csv(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert list(csv["algorithm"]) == list(expected["algorithm"])
    np.testing.assert_allclose(csv["ctr"], expected["ctr"])
    np.testing.assert_allclose(csv["conversion_impression_high"], expected["conversion_impression_high"])
    assert list(csv["impressions"]) == list(expected["impressions"])
    db.engine.dispose()
    snapshot(page, screenshots, "analytics")
    for tab, keys, name in (("Funnel and trends", ("an-funnel", "an-position", "an-daily"), "analytics-funnel"),
                            ("Experiments and impact", ("an-experiment",), "analytics-experiments")):
        page.get_by_role("tab", name=tab).click()
        for key in keys:
            expect(page.locator(f".st-key-{key} .main-svg").first).to_be_visible(timeout=CHART_TIMEOUT)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        snapshot(page, screenshots, name)
