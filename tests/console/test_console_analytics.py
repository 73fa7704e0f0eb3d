"""The Analytics and Experiments pages, driven through AppTest and checked against engine.insights.analytics and
engine.insights.experiments computed here for the same scope; and the Analytics page in a real Chromium.

Read-only checks use the demo data prepared once per session, simulated traffic included
(tests/console_fixtures.py). Checks that write events or experiments get a data folder of their own, so the
shared demo data stays as prepared for every other test."""
from __future__ import annotations

import base64
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from engine.insights.analytics import Scope, ctr_by_position, daily, funnel, metrics, top_products
from engine.catalog.db import Database
from engine.insights.events import Event, EventLog
from engine.catalog.events import EventRow
from engine.insights.experiments import get_experiment, results
from engine.settings import Settings
from engine.insights.simulate import SIM_EXPERIMENT, simulated_count

from console_fixtures import goto

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
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT).run()
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


def shown_table(at: AppTest, key: str) -> pd.DataFrame:
    return at.get_by_key(key).dataframe[0].value


def shown_scope(at: AppTest) -> Scope:
    """The Scope the sidebar asks for: the date range (both days included), the algorithms, simulated or not."""
    start, end = at.date_input(key="an_dates").value
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


@pytest.fixture
def own_data(tmp_path, monkeypatch):
    """A data folder of this test's own (an empty event log), for the pages that write."""
    from engine.runtime import shared

    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    rt = shared()
    yield rt
    rt.close()


# ---- Analytics: charts and tables against the engine ---------------------------------------------------------
def test_rate_charts_and_tables_equal_the_engines_metrics(console_env, runtime):
    at = open_page("analytics")
    assert at.date_input(key="an_dates").value == event_days(runtime.db)  # the whole log by default
    scope = shown_scope(at)
    for by in ("algorithm", "strategy"):
        expected = named_rates(runtime.db, by, scope)
        assert len(expected) >= 3, expected
        for rate in RATES:
            (bars,) = traces(at, f"an-{rate}-{by}")
            assert bars["type"] == "bar"
            assert_rate_bars(bars, expected, by, rate)
        assert_same_table(shown_table(at, f"an-rates-{by}"), expected[[by, *RATE_TABLE]])
        assert at.get_by_key(f"an-rates-{by}").get("download_button")[0].label == "CSV"


def test_funnel_position_trend_top_products_and_experiment_equal_the_engine(console_env, runtime):
    at = open_page("analytics")
    scope, db = shown_scope(at), runtime.db

    (stages,) = traces(at, "an-funnel")
    want = funnel(db, scope)
    assert stages["type"] == "funnel"
    assert list(array(stages["y"])) == ["impression", "click", "cart_add", "purchase"]
    assert list(array(stages["x"])) == list(want["events"])
    assert want["events"].iloc[0] > want["events"].iloc[1] > want["events"].iloc[3] > 0

    curve = ctr_by_position(db, scope, by_algorithm=True)
    shown = lines_by_name(traces(at, "an-position"))
    assert set(shown) == set(curve["algorithm"])
    for algo, rows in curve.groupby("algorithm"):
        x, y = shown[algo]
        assert list(x) == list(rows["position"])
        np.testing.assert_allclose(y, rows["ctr"])

    trend = daily(db, scope, by="algorithm")
    shown = lines_by_name(traces(at, "an-daily"))
    assert set(shown) == set(trend["algorithm"])
    for algo, rows in trend.groupby("algorithm"):
        x, y = shown[algo]
        assert list(pd.to_datetime(x)) == list(rows["day"])
        np.testing.assert_allclose(y, rows["ctr"])
    at.radio(key="an_trend_rate").set_value("conversion_impression").run()
    for algo, (x, y) in lines_by_name(traces(at, "an-daily")).items():
        np.testing.assert_allclose(y, trend[trend["algorithm"] == algo]["conversion_impression"])

    top = top_products(db, n=20, by="purchases", scope=scope)
    assert_same_table(shown_table(at, "an-top"), top)
    at.selectbox(key="an_top_by").set_value("clicks").run()
    assert_same_table(shown_table(at, "an-top"), top_products(db, n=20, by="clicks", scope=scope))

    assert at.selectbox(key="an_experiment").value == SIM_EXPERIMENT
    res = results(db, SIM_EXPERIMENT, scope)
    assert_same_table(shown_table(at, "an-experiment-table"), res.table)
    by_metric = {t["name"]: t for t in traces(at, "an-experiment")}
    for metric, col in (("CTR", "ctr"), ("Conversion", "conversion")):
        assert list(array(by_metric[metric]["x"])) == list(res.table["variant"])
        np.testing.assert_allclose(array(by_metric[metric]["y"]), res.table[col])
        np.testing.assert_allclose(array(by_metric[metric]["error_y"]["array"]),
                                   res.table[f"{col}_high"] - res.table[col])


def test_headline_names_the_best_algorithm_of_the_last_week(console_env, runtime):
    at = open_page("analytics")
    last = event_days(runtime.db)[1]
    week = metrics(runtime.db, "algorithm", Scope(start=last - timedelta(days=6), end=last))
    week = week[week["algorithm"].notna()]
    text = " ".join(m.value for m in at.get_by_key("an-headline").markdown)
    assert f"This week ({last - timedelta(days=6)} – {last})" in text
    for rate, label in (("ctr", "CTR"), ("conversion_impression", "conversion")):
        ranked = week.sort_values([rate, "algorithm"], ascending=[False, True])
        best, second = ranked.iloc[0], ranked.iloc[1]
        sentence = next(line for line in text.split("Best ")[1:] if line.startswith(label + ":"))
        assert sentence.startswith(f"{label}: **{best['algorithm']}**, {100 * best[rate]:.1f}%"), sentence
        assert f"ahead of {second['algorithm']} at {100 * second[rate]:.1f}%" in sentence
        overlaps = best[f"{rate}_low"] <= second[f"{rate}_high"]
        assert ("The intervals overlap" in sentence) == overlaps
        assert ("do not overlap" in sentence) == (not overlaps)


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
    assert set(lines_by_name(traces(at, "an-position"))) == {algo}
    assert set(lines_by_name(traces(at, "an-daily"))) == {algo}
    assert list(array(traces(at, "an-funnel")[0]["x"])) == list(funnel(runtime.db, scope)["events"])
    all_traffic = funnel(runtime.db, Scope())["events"].iloc[0]
    assert funnel(runtime.db, scope)["events"].iloc[0] < all_traffic
    assert "the only algorithm" in " ".join(m.value for m in at.get_by_key("an-headline").markdown)


def test_inverted_or_unfinished_date_range_shows_an_error_and_no_chart(console_env, runtime):
    at = open_page("analytics")
    first, last = event_days(runtime.db)
    at.date_input(key="an_dates").set_value((last, first)).run()
    assert not at.exception
    assert len(at.error) == 1 and "inverted" in at.error[0].value and str(last) in at.error[0].value
    assert len(at.get("plotly_chart")) == 0
    at.date_input(key="an_dates").set_value((first,)).run()
    assert len(at.error) == 1 and "end date" in at.error[0].value
    at.date_input(key="an_dates").set_value((first, first)).run()
    assert not at.error
    (bars,) = traces(at, "an-ctr-algorithm")
    assert_rate_bars(bars, named_rates(runtime.db, "algorithm", Scope(start=first, end=first)), "algorithm", "ctr")


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
    at = open_page_alone("analytics")
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

    assert at.date_input(key="an_dates").value == (date(2024, 5, 1), date(2024, 5, 1))  # follows the data
    (bars,) = traces(at, "an-ctr-algorithm")
    assert list(array(bars["x"])) == ["upload_algo"] and list(array(bars["y"])) == [0.5]  # 1 click, 2 impressions

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
    assert list(array(traces(at, "an-funnel")[0]["x"])) == [4, 1, 0, 0]
    at.checkbox(key="an_simulated").check().run()

    remove = at.button(key="an_sim_remove")
    assert remove.disabled  # not before the confirmation
    at.checkbox(key="an_sim_confirm").check().run()
    assert not at.button(key="an_sim_remove").disabled
    at.button(key="an_sim_remove").click().run()
    assert not at.exception
    assert any("Removed 5 simulated events" in s.value for s in at.success)
    assert simulated_count(own_data.db) == 0 and EventLog(own_data.db).count() == 5
    assert any("no simulated events" in i.value for i in at.info)
    assert list(array(traces(at, "an-ctr-algorithm")[0]["x"])) == ["vector_text"]


# ---- Experiments ---------------------------------------------------------------------------------------------
def test_experiment_is_validated_created_listed_and_stopped_with_a_winner(own_data):
    at = open_page_alone("experiments")
    assert any("No experiment yet" in i.value for i in at.info)
    at.text_input(key="xp_name").input("home-ab")
    at.number_input(key="xp_2_v1_share").set_value(0.6)
    at.button(key="xp_create").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "shares must sum to 1, they sum to 1.1" in at.error[0].value
    with pytest.raises(KeyError):
        at.get_by_key("xp-all-table")

    strategies = list(own_data.config.strategies)
    at.number_input(key="xp_2_v1_share").set_value(0.5)
    at.selectbox(key="xp_2_v0_strategy").set_value(strategies[0])
    at.selectbox(key="xp_2_v1_strategy").set_value(strategies[-1])
    at.button(key="xp_create").click().run()
    assert not at.error
    listed = shown_table(at, "xp-all")
    assert list(listed["name"]) == ["home-ab"] and list(listed["status"]) == ["running"]
    assert listed["variants"][0] == f"A: {strategies[0]} 50% · B: {strategies[-1]} 50%"
    assert at.selectbox(key="xp_pick").value == "home-ab"
    assert "No answer yet" in at.get_by_key("xp-answer").markdown[0].value  # no traffic so far

    at.selectbox(key="xp_winner").set_value("B")
    at.button(key="xp_stop").click().run()
    assert not at.exception and not at.error
    listed = shown_table(at, "xp-all")
    assert list(listed["status"]) == ["stopped"] and list(listed["winner"]) == ["B"]
    stored = get_experiment(own_data.db, "home-ab")
    assert (stored.status, stored.winner) == ("stopped", "B")
    at.run()
    assert any("winner B" in i.value for i in at.info)
    with pytest.raises(KeyError):
        at.button(key="xp_stop")  # a stopped experiment cannot be stopped again


def test_a_clearly_better_variant_is_called_better(own_data):
    from engine.insights.experiments import create_experiment

    strategies = list(own_data.config.strategies)
    create_experiment(own_data.db, "clear-win", [("A", strategies[0], 0.5), ("B", strategies[1], 0.5)])
    day = datetime(2024, 6, 3, 12)
    clicks = {"A": 40, "B": 120}  # of 1000 impressions each: 4% against 12%
    events = []
    for variant, n in clicks.items():
        events += [Event("impression", f"{variant}-{i}", i, ts=day, algorithm="vector_combined", position=0,
                         experiment="clear-win", variant=variant) for i in range(1000)]
        events += [Event("click", f"{variant}-{i}", i, ts=day, algorithm="vector_combined", position=0,
                         experiment="clear-win", variant=variant) for i in range(n)]
    EventLog(own_data.db).log_many(events)

    at = open_page_alone("experiments")
    res = results(own_data.db, "clear-win")
    b = res.table.iloc[1]
    assert b["ctr_significant"] and b["ctr_diff"] == pytest.approx(0.08)
    answer = [m.value for m in at.get_by_key("xp-answer").markdown]
    assert answer[0] == "**Is B better than A?** Yes: it is significantly better on CTR."
    assert answer[1].startswith("- **CTR**: yes — B's CTR is 12.0% against 4.0% for A, a difference of +8.00 points")
    assert f"p = {b['ctr_p_value']:.3g}" in answer[1]
    assert answer[2].startswith("- **Conversion**: not shown")  # no purchases on either side
    assert at.selectbox(key="xp_winner").value == "B"  # the engine's leader is preselected


def test_experiment_results_answer_in_words_what_the_engine_computes(console_env, runtime):
    at = open_page("experiments")
    assert at.selectbox(key="xp_pick").value == SIM_EXPERIMENT
    res = results(runtime.db, SIM_EXPERIMENT)
    assert_same_table(shown_table(at, "xp-results"), res.table)
    by_metric = {t["name"]: t for t in traces(at, "xp-chart")}
    np.testing.assert_allclose(array(by_metric["CTR"]["y"]), res.table["ctr"])
    np.testing.assert_allclose(array(by_metric["Conversion"]["error_y"]["arrayminus"]),
                               res.table["conversion"] - res.table["conversion_low"])

    answer = [m.value for m in at.get_by_key("xp-answer").markdown]
    b = res.table[res.table["variant"] == "B"].iloc[0]
    assert answer[0].startswith("**Is B better than A?**")
    significant = {c: bool(b[f"{c}_significant"]) for c in ("ctr", "conversion")}
    worse = any(significant[c] and b[f"{c}_diff"] < 0 for c in significant)
    better = any(significant[c] and b[f"{c}_diff"] > 0 for c in significant)
    expected = ("No: it is significantly worse on" if worse else "Yes: it is significantly better on" if better
                else "Not shown yet: no significant difference.")
    assert expected in answer[0], answer[0]
    for line, col in zip(answer[1:], ("ctr", "conversion")):
        assert f"p = {b[f'{col}_p_value']:.3g}" in line
        assert f"{100 * b[f'{col}_diff']:+.2f}".replace("-", "\u2212") + " points" in line
        verdict = ("yes" if b[f"{col}_diff"] > 0 else "no") if significant[col] else "not shown"
        assert line.split("— ")[0].endswith(f"{verdict} "), line


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
    expected = named_rates(db, "algorithm", Scope())
    ticks = page.locator(".st-key-an-ctr-algorithm .xaxislayer-above .xtick text")
    expect(ticks).to_have_text(list(expected["algorithm"]), timeout=CHART_TIMEOUT)
    for key in ("an-conversion_impression-algorithm", "an-ctr-strategy", "an-funnel", "an-position", "an-daily",
                "an-experiment"):
        expect(page.locator(f".st-key-{key} .main-svg").first).to_be_visible(timeout=CHART_TIMEOUT)
    expect(page.locator(".st-key-an-ctr-algorithm .errorbar")).to_have_count(len(expected))

    with page.expect_download() as got:
        page.locator(".st-key-an-rates-algorithm").get_by_test_id("stDownloadButton").get_by_role("button").click()
    csv = pd.read_csv(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert list(csv["algorithm"]) == list(expected["algorithm"])
    np.testing.assert_allclose(csv["ctr"], expected["ctr"])
    np.testing.assert_allclose(csv["conversion_impression_high"], expected["conversion_impression_high"])
    assert list(csv["impressions"]) == list(expected["impressions"])
    db.engine.dispose()
    snapshot(page, screenshots, "analytics")
