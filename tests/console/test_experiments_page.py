"""The Experiments page through AppTest: the planner against statsmodels' own power computation and the
traffic counted in SQL, the sample-ratio-mismatch check, verdicts in plain words, creating and stopping.

Checks that write experiments or events get a data folder of their own; the read-only ones use the demo data
prepared once per session (tests/console_fixtures.py)."""
from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from scipy.stats import chisquare
from sqlalchemy import text
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize
from streamlit.testing.v1 import AppTest

from engine.insights.events import Event, EventLog
from engine.insights.experiments import create_experiment, get_experiment, results

from console_fixtures import goto

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
IMPRESSION = ("CASE WHEN e.kind = 'impression' THEN 1 WHEN e.kind = 'served' AND (e.request_id IS NULL OR NOT "
              "EXISTS (SELECT 1 FROM events r WHERE r.request_id = e.request_id AND r.kind = 'impression')) "
              "THEN 1 ELSE 0 END")


def open_alone() -> AppTest:
    """The page file on its own, for a data folder of a test's own (app.py would prepare the demo there)."""
    at = AppTest.from_file(str(ROOT / "app_pages" / "experiments.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest, key: str) -> dict[str, str]:
    return {m.label: m.value for m in at.get_by_key(key).metric}


def answer(at: AppTest) -> list[str]:
    return [m.value for m in at.get_by_key("xp-answer").markdown]


def test_planner_equals_statsmodels_at_the_traffic_sql_counts(console_env, runtime):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    goto(at, "experiments")
    # the window the page says it measured: the 14 days up to today, or up to the last day with events (just
    # after midnight, today may have none yet)
    caption = next(c.value for c in at.caption if c.value.startswith("Current traffic"))
    first, last = (date.fromisoformat(d) for d in re.search(r"14 days (\S+) – (\S+)\.$", caption).groups())
    assert last - first == timedelta(days=13) and last <= datetime.now(timezone.utc).date()
    lo, hi = datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())
    q = (f"SELECT SUM({IMPRESSION}), SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END) FROM events e "
         "WHERE e.ts >= :lo AND e.ts < :hi")
    with runtime.db.engine.connect() as conn:
        shown, clicks = conn.execute(text(q), {"lo": lo, "hi": hi}).one()
    daily = shown / 14
    assert at.number_input(key="xp_baseline").value == pytest.approx(round(100 * clicks / shown, 2))

    at.number_input(key="xp_baseline").set_value(5.0).run()
    at.number_input(key="xp_mde").set_value(10.0).run()
    n = math.ceil(NormalIndPower().solve_power(effect_size=abs(proportion_effectsize(0.055, 0.05)), alpha=0.05,
                                               power=0.8, ratio=1.0))
    shown_plan = metrics(at, "xp-plan")
    assert shown_plan["Impressions per variant"] == f"{n:,}"
    assert shown_plan["In all"] == f"{2 * n:,}"
    assert shown_plan["Days at current traffic"] == f"{math.ceil(2 * n / daily):,}"
    sentence = " ".join(m.value for m in at.get_by_key("xp-plan").markdown)
    assert "from 5.00% to 5.50%" in sentence and f"{daily:,.0f} impressions a day" in sentence

    at.number_input(key="xp_mde").set_value(20.0).run()  # a larger lift needs less traffic
    assert int(metrics(at, "xp-plan")["In all"].replace(",", "")) < 2 * n
    at.selectbox(key="xp_power").set_value(0.9).run()
    at.number_input(key="xp_mde").set_value(10.0).run()
    assert int(metrics(at, "xp-plan")["In all"].replace(",", "")) > 2 * n


def test_demo_results_equal_the_engine_and_name_variants_by_their_strategies(console_env, runtime):
    from engine.insights.simulate import SIM_EXPERIMENT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    goto(at, "experiments")
    assert at.selectbox(key="xp_pick").value == SIM_EXPERIMENT
    res = results(runtime.db, SIM_EXPERIMENT)
    table = at.get_by_key("xp-results").dataframe[0].value
    assert list(table["impressions"]) == list(res.table["impressions"])
    exp = get_experiment(runtime.db, SIM_EXPERIMENT)
    bars = json.loads(at.get_by_key("xp-chart").get("plotly_chart")[0].proto.spec)["data"]
    assert set(bars[0]["x"]) == {f"{v.name}: {v.config}" for v in exp.variants}
    text_ = " ".join(answer(at))
    assert "Not shown" not in text_ and "not shown" not in text_
    assert any("Decide once, at the planned sample size" in i.value for i in at.info)
    q = ("SELECT variant, COUNT(DISTINCT COALESCE(user_id, session_id)) FROM events WHERE experiment = :x "
         "AND variant IS NOT NULL GROUP BY variant")
    with runtime.db.engine.connect() as conn:
        units = dict(conn.execute(text(q), {"x": SIM_EXPERIMENT}).all())
    observed = [units.get(v.name, 0) for v in exp.variants]
    p = chisquare(observed, [sum(observed) * v.share for v in exp.variants]).pvalue
    srm = at.get_by_key("xp-srm")
    if p < 0.001:
        assert len(srm.error) == 1 and "Sample ratio mismatch" in srm.error[0].value
    else:
        assert not srm.error and any("split matches the design" in c.value for c in srm.caption)
    for v, n in zip(exp.variants, observed):
        assert f"{v.name} {n:,} (" in " ".join(c.value for c in srm.caption) + " ".join(e.value for e in srm.error)


def test_a_60_40_split_of_a_50_50_design_is_flagged_on_the_page(own_data):
    strategies = list(own_data.config.strategies)
    create_experiment(own_data.db, "lopsided", [("A", strategies[0], 0.5), ("B", strategies[-1], 0.5)])
    day = datetime(2024, 6, 3, 12)
    events = [Event("impression", f"s-{v}-{u}", u, ts=day, user_id=f"u-{v}-{u}", experiment="lopsided", variant=v,
                    algorithm="vector_text", position=0) for v, k in (("A", 600), ("B", 400)) for u in range(k)]
    EventLog(own_data.db).log_many(events)
    at = open_alone()
    errors = at.get_by_key("xp-srm").error
    assert len(errors) == 1 and errors[0].value.startswith("Sample ratio mismatch")
    assert "A 600 (60.0%, designed 50%)" in errors[0].value


def test_a_clearly_better_variant_is_called_better_in_words(own_data):
    strategies = list(own_data.config.strategies)
    create_experiment(own_data.db, "clear-win", [("A", strategies[0], 0.5), ("B", strategies[1], 0.5)])
    day = datetime(2024, 6, 3, 12)
    events = []
    for variant, n in {"A": 40, "B": 120}.items():  # of 1000 impressions each: 4% against 12%
        events += [Event("impression", f"{variant}-{i}", i, ts=day, algorithm="vector_combined", position=0,
                         experiment="clear-win", variant=variant) for i in range(1000)]
        events += [Event("click", f"{variant}-{i}", i, ts=day, algorithm="vector_combined", position=0,
                         experiment="clear-win", variant=variant) for i in range(n)]
    EventLog(own_data.db).log_many(events)

    at = open_alone()
    b = results(own_data.db, "clear-win").table.iloc[1]
    said = answer(at)
    assert said[0] == (f"**B: {strategies[1]}** against control **A: {strategies[0]}**: "
                       "B is better than A on CTR.")
    assert said[1].startswith("- CTR: B is better than A: B 12.00% against A 4.00%, +8.00 points")
    assert f"p = {b['ctr_p_value']:.2g}" in said[1]
    assert said[2].startswith("- conversion: no significant difference yet")  # no purchases on either side
    assert at.selectbox(key="xp_winner").value == "B"  # the engine's leader is preselected


def test_experiment_is_validated_created_listed_and_stopped_with_a_winner(own_data):
    at = open_alone()
    assert any("No experiment yet" in i.value for i in at.info)
    at.text_input(key="xp_name").input("home-ab")
    at.number_input(key="xp_2_v1_share").set_value(0.6)
    at.button(key="xp_create").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "shares must sum to 1, they sum to 1.1" in at.error[0].value

    strategies = list(own_data.config.strategies)
    at.number_input(key="xp_2_v1_share").set_value(0.5)
    at.selectbox(key="xp_2_v0_strategy").set_value(strategies[0])
    at.selectbox(key="xp_2_v1_strategy").set_value(strategies[-1])
    at.button(key="xp_create").click().run()
    assert not at.error
    listed = at.get_by_key("xp-all").dataframe[0].value
    assert list(listed["name"]) == ["home-ab"] and list(listed["status"]) == ["running"]
    assert at.selectbox(key="xp_pick").value == "home-ab"
    assert "No answer yet" in answer(at)[0]  # no traffic so far
    assert any("cannot be checked" in c.value for c in at.get_by_key("xp-srm").caption)

    at.selectbox(key="xp_winner").set_value("B")
    at.button(key="xp_stop").click().run()
    assert not at.exception and not at.error
    stored = get_experiment(own_data.db, "home-ab")
    assert (stored.status, stored.winner) == ("stopped", "B")
    at.run()
    assert any("winner B" in i.value for i in at.info)
    with pytest.raises(KeyError):
        at.button(key="xp_stop")


def test_a_plan_that_leaves_the_0_to_1_range_is_refused_with_the_reason(own_data):
    at = open_alone()
    at.number_input(key="xp_baseline").set_value(60.0).run()
    at.number_input(key="xp_mde").set_value(100.0).run()
    assert not at.exception
    assert len(at.error) == 1 and "outside 0–1" in at.error[0].value
    assert "Impressions per variant" not in metrics(at, "xp-plan")  # no plan drawn from a refused input
