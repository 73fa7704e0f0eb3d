"""The live config's strategy names and the impact of a published version, on the Analytics and Experiments
pages (AppTest, a data folder of each test's own): a logged strategy name the config no longer has is labelled
"(retired)", never dropped; the version comparison shows what engine.insights.impact computes, with the interval
method and the test named; the experiment form offers exactly the config's strategies."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.insights.events import Event, EventLog
from engine.insights.experiments import create_experiment
from engine.insights.impact import version_impact
from engine.merchandising.drafts import ConfigWorkflow
from engine.merchandising.edits import with_strategy
from engine.recommend.versions import VersionTable
from console_fixtures import section
from test_console_analytics import assert_same_table, open_page_alone, shown_table


def publish_custom_strategy(rt) -> None:
    """Version 2: version 1 (the first-run defaults) plus a custom strategy, published by Ann."""
    desk = ConfigWorkflow(rt)
    desk.edit(lambda c: with_strategy(c, "pop_heavy", c.strategies["balanced"].weights), "Ann", "fork balanced")
    assert desk.publish("Ann", "popularity first").version.number == 2


def served(version: int, strategy: str, impressions: int, clicks: int, purchases: int,
           simulated: bool = False) -> list[Event]:
    day = datetime(2024, 6, 3, 12)
    kinds = [("impression", impressions), ("click", clicks), ("purchase", purchases)]
    return [Event(kind, f"v{version}-{simulated}-{i}", i, ts=day, algorithm="vector_text", strategy=strategy,
                  position=0, config_version=version, simulated=simulated) for kind, n in kinds for i in range(n)]


def test_impact_of_a_version_and_retired_strategies_are_what_the_engine_computes(own_data):  # noqa: F811  (the fixture imported above)
    publish_custom_strategy(own_data)
    EventLog(own_data.db).log_many(served(1, "similar", 400, 12, 2) + served(2, "pop_heavy", 400, 40, 10)
                                   + served(2, "pop_heavy", 100, 0, 0, simulated=True))
    at = open_page_alone("analytics")

    shown = shown_table(at, "an-rates-strategy")  # the name the config lacks is labelled, not dropped
    assert list(shown["strategy"]) == ["pop_heavy", "similar (retired)"]
    assert list(shown["impressions"]) == [500, 400]

    section(at, "Experiments and impact")
    live_since = {v.number: f"live since {v.created_at:%Y-%m-%d %H:%M} UTC" for v in VersionTable(own_data.db).list()}
    picker = at.selectbox(key="an_version")
    assert picker.options == [f"version 2 ({live_since[2]})", f"version 1 ({live_since[1]})"]
    assert picker.value == 2  # the newest version with events
    impact = version_impact(own_data.db, 2, include_simulated=True)
    assert impact.previous == 1 and impact.ctr.p_value < 0.05
    assert_same_table(shown_table(at, "an-impact-table"), impact.as_frame())
    box = at.get_by_key("an-impact")
    assert [m.value for m in box.markdown] == [
        f"**After**: version 2, {live_since[2]}, published by Ann: “popularity first”.",
        f"**Before**: version 1, {live_since[1]}, published by vitrina: “the built-in defaults (first run)”."]
    assert {m.label: m.value for m in box.metric} == {"CTR, version 2": "8.00%", "Conversion, version 2": "2.00%"}
    caption = box.caption[-1].value
    assert "Intervals: Wilson score 95%" in caption and "two-proportion z-test" in caption

    at.checkbox(key="an_simulated").uncheck().run()  # real traffic only, as the sidebar says
    assert_same_table(shown_table(at, "an-impact-table"), version_impact(own_data.db, 2).as_frame())
    assert {m.label: m.value for m in at.get_by_key("an-impact").metric}["CTR, version 2"] == "10.00%"

    at.selectbox(key="an_version").set_value(1).run()  # nothing before it: the note instead of numbers
    assert not at.exception
    assert [i.value for i in at.get_by_key("an-impact").info] == [
        "No version before 1 has events: nothing to compare with."]
    with pytest.raises(KeyError):
        at.get_by_key("an-impact-table")


def test_experiments_offer_exactly_the_configs_strategies_and_label_retired_ones(own_data):  # noqa: F811  (the fixture imported above)
    publish_custom_strategy(own_data)
    create_experiment(own_data.db, "old-names", [("A", "balanced", 0.5), ("B", "similar", 0.5)])  # before a rename
    at = open_page_alone("experiments")
    config = own_data.config
    for i in range(2):
        options = at.selectbox(key=f"xp_2_v{i}_strategy").options
        assert options[0] == config.default_strategy and sorted(options) == sorted(config.strategies)
    assert "pop_heavy" in options
    assert shown_table(at, "xp-all")["variants"][0] == "A: balanced 50% · B: similar (retired) 50%"
    assert list(shown_table(at, "xp-results")["config"]) == ["balanced", "similar (retired)"]


