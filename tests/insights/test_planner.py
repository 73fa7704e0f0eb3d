"""The experiment planner (sample size and days), the sample-ratio-mismatch check and the verdicts in words."""
from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from hypothesis import given, strategies as st
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from engine.catalog.db import Database
from engine.errors import ValidationError
from engine.insights import experiments as X
from engine.insights import planner as P
from engine.insights.events import Event, EventLog


@pytest.fixture()
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'x.db'}")


# ---- sample size ----------------------------------------------------------------------------------------------
def test_sample_size_is_statsmodels_power_for_a_known_case():
    """5% → 5.5% (a 10% lift) at alpha 0.05 and 80% power: Cohen's h 0.0224, about 31,218 impressions a variant
    (statsmodels' own solve, through its other entry point; the textbook normal formula agrees to 0.1%)."""
    got = P.plan(0.05, 0.10, alpha=0.05, power=0.8)
    h = proportion_effectsize(0.055, 0.05)
    want = zt_ind_solve_power(effect_size=abs(h), alpha=0.05, power=0.8, ratio=1.0, alternative="two-sided")
    assert got.per_variant == (math.ceil(want), math.ceil(want))
    assert got.total == 2 * math.ceil(want)
    z = 1.959963984540054 + 0.8416212335729143
    assert got.per_variant[0] == pytest.approx(2 * (z / h) ** 2, rel=1e-3)  # n = 2 (z_a + z_b)² / h²
    assert 31_000 < got.per_variant[0] < 31_500
    assert got.target == pytest.approx(0.055) and got.mde == pytest.approx(0.005)


def test_absolute_effect_and_unequal_shares():
    absolute = P.plan(0.05, 0.005, relative=False)
    assert absolute.per_variant == P.plan(0.05, 0.10).per_variant
    uneven = P.plan(0.05, 0.10, shares=(0.8, 0.2))
    n0 = NormalIndPower().solve_power(effect_size=abs(proportion_effectsize(0.055, 0.05)), alpha=0.05, power=0.8,
                                      ratio=0.25)
    assert uneven.per_variant[0] == math.ceil(n0)  # control's sample of the 80 / 20 comparison
    assert uneven.per_variant[1] == pytest.approx(n0 / 4, abs=1)
    assert uneven.total > absolute.total  # an uneven split needs more traffic in all


def test_days_at_current_traffic():
    p = P.plan(0.05, 0.10, daily=10_000)
    assert p.days == math.ceil(p.total / 10_000)
    assert f"about {p.days} days at the current 10,000 impressions a day" in p.sentence()
    assert P.plan(0.05, 0.10).days is None
    assert "no recent traffic" in P.plan(0.05, 0.10, daily=0).sentence()


@given(baseline=st.floats(0.005, 0.5), small=st.floats(0.02, 0.5), factor=st.floats(1.05, 3.0))
def test_a_larger_effect_never_needs_more_traffic(baseline, small, factor):
    large = small * factor
    if baseline * (1 + large) >= 1:
        return
    assert P.plan(baseline, large).total <= P.plan(baseline, small).total


@given(power=st.floats(0.5, 0.95), more=st.floats(0.01, 0.04))
def test_more_power_needs_more_traffic(power, more):
    assert P.plan(0.05, 0.1, power=power + more).total >= P.plan(0.05, 0.1, power=power).total


@pytest.mark.parametrize("kwargs, message", [
    (dict(baseline=0.0, mde=0.1), "baseline"),
    (dict(baseline=1.2, mde=0.1), "baseline"),
    (dict(baseline=0.05, mde=0.0), "detectable effect"),
    (dict(baseline=0.05, mde=-0.1), "detectable effect"),
    (dict(baseline=0.05, mde=math.nan), "detectable effect"),
    (dict(baseline=0.6, mde=1.0), "outside 0–1"),
    (dict(baseline=0.05, mde=0.1, shares=(0.5, 0.6)), "sum to 1"),
    (dict(baseline=0.05, mde=0.1, shares=(1.0,)), "at least 2"),
    (dict(baseline=0.05, mde=0.1, alpha=1.5), "alpha"),
    (dict(baseline=0.05, mde=0.1, daily=-3), "daily traffic"),
])
def test_bad_plans_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        P.plan(**kwargs)


# ---- sample ratio mismatch ------------------------------------------------------------------------------------
def test_a_60_40_split_of_a_50_50_design_is_flagged():
    check = P.ratio_check({"A": 600, "B": 400}, {"A": 0.5, "B": 0.5})
    assert check.chi2 == pytest.approx(40.0)  # (100² + 100²) / 500
    assert check.p_value < 1e-9 and check.mismatch
    assert check.sentence().startswith("Sample ratio mismatch")


def test_a_split_within_chance_passes_and_an_uneven_design_is_respected():
    assert not P.ratio_check({"A": 510, "B": 490}, {"A": 0.5, "B": 0.5}).mismatch
    assert not P.ratio_check({"A": 605, "B": 395}, {"A": 0.6, "B": 0.4}).mismatch
    assert P.ratio_check({"A": 500, "B": 500}, {"A": 0.6, "B": 0.4}).mismatch
    empty = P.ratio_check({"A": 0, "B": 0}, {"A": 0.5, "B": 0.5})
    assert not empty.mismatch and "cannot be checked" in empty.sentence()
    with pytest.raises(ValidationError, match="designed"):
        P.ratio_check({"A": 1}, {"A": 0.5, "B": 0.5})
    with pytest.raises(ValidationError, match="whole number"):
        P.ratio_check({"A": -1, "B": 3}, {"A": 0.5, "B": 0.5})


def test_assigned_units_count_distinct_shoppers_from_the_log(db):
    exp = X.create_experiment(db, "split", [("A", "balanced", 0.5), ("B", "upsell", 0.5)])
    day = datetime(2024, 6, 3, 12)
    events = []
    for variant, shoppers in (("A", 60), ("B", 40)):
        for u in range(shoppers):
            for p in range(3):  # three tiles each: shoppers, not impressions, are the unit
                events.append(Event("impression", f"s-{variant}-{u}", p, ts=day, user_id=f"u-{variant}-{u}",
                                    experiment="split", variant=variant, algorithm="vector_text", position=p))
    EventLog(db).log_many(events)
    assert P.assigned_units(db, exp) == {"A": 60, "B": 40}
    assert not P.experiment_check(db, exp).mismatch  # 100 shoppers: 60/40 is within chance
    assert P.current_traffic(db, date(2024, 6, 3), date(2024, 6, 4)) == (150.0, 0.0)


# ---- verdicts -------------------------------------------------------------------------------------------------
def _results(db, clicks_a: int, clicks_b: int, shown: int = 1000):
    X.create_experiment(db, "v", [("A", "balanced", 0.5), ("B", "upsell", 0.5)])
    day = datetime(2024, 6, 3, 12)
    events = []
    for variant, n in (("A", clicks_a), ("B", clicks_b)):
        events += [Event("impression", f"{variant}-{i}", i, ts=day, experiment="v", variant=variant)
                   for i in range(shown)]
        events += [Event("click", f"{variant}-{i}", i, ts=day, experiment="v", variant=variant) for i in range(n)]
    EventLog(db).log_many(events)
    return X.results(db, "v")


def test_verdicts_say_which_way_or_whether_to_keep_running(db):
    res = _results(db, 40, 120)
    ctr = {v.metric: v for v in P.verdicts(res, needed=500)}["ctr"]
    assert ctr.outcome == "better" and ctr.text.startswith("CTR: B is better than A: B 12.00% against A 4.00%")
    assert P.answer(P.verdicts(res, needed=500), "B", "A") == "B is better than A on CTR."
    early = {v.metric: v for v in P.verdicts(res, needed=5000)}["ctr"]
    assert "keep it running to the planned size" in early.text
    conversion = {v.metric: v for v in P.verdicts(res)}["conversion"]  # no purchases anywhere
    assert conversion.outcome == "keep running" and "Not shown" not in conversion.text


def test_no_difference_after_the_planned_sample_reads_as_alike(tmp_path):
    res = _results(Database(f"sqlite:///{tmp_path / 'y.db'}"), 50, 52, shown=2000)
    ctr = {v.metric: v for v in P.verdicts(res, needed=1500)}["ctr"]
    assert ctr.outcome == "no difference" and "perform alike" in ctr.text
    before = {v.metric: v for v in P.verdicts(res, needed=4000)}["ctr"]
    assert before.outcome == "keep running" and "2,000 of the 4,000 impressions planned for B" in before.text


def test_variants_are_named_by_what_they_serve():
    assert P.variant_label("B", "upsell", ["balanced", "upsell"]) == "B: upsell"
    assert P.variant_label("B", "3", ["balanced"]) == "B: config version 3"
    assert P.variant_label("B", "similar", ["balanced"]) == "B: similar (retired)"


def test_each_rate_may_have_its_own_plan_and_unequal_shares_their_own_targets(tmp_path):
    res = _results(Database(f"sqlite:///{tmp_path / 'z.db'}"), 50, 52, shown=2000)
    said = {v.metric: v for v in P.verdicts(res, by_metric={"ctr": 1500, "conversion": 90_000})}
    assert said["ctr"].outcome == "no difference"
    assert said["conversion"].outcome == "keep running" and "2,000 of the 90,000" in said["conversion"].text
    uneven = P.plan(0.05, 0.10, shares=(0.8, 0.2))
    need = P.needed_by_variant(res.experiment, uneven)
    assert list(need) == ["A", "B"] and need["A"] > need["B"]
    with pytest.raises(ValidationError, match="variants"):
        P.needed_by_variant(res.experiment, P.plan(0.05, 0.10, shares=(0.4, 0.3, 0.3)))
    said = {v.metric: v for v in P.verdicts(res, {"A": 1000, "B": 3000})}  # B's own target is not reached
    assert said["ctr"].outcome == "keep running" and "2,000 of the 3,000 impressions planned for B" in said["ctr"].text
    with pytest.raises(ValidationError, match="per rate"):
        P.verdicts(res, by_metric={"revenue": 10})
