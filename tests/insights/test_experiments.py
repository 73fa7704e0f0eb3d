"""Experiment definitions, stable assignment and variant results against control."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist

import pytest

from engine.insights import experiments as X
from engine.catalog.db import Database
from engine.errors import NotFound, ValidationError
from engine.insights.events import Event, EventLog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'x.db'}")


THREE = [("A", "similar", 0.2), ("B", "diverse", 0.3), ("C", "margin", 0.5)]


@pytest.mark.parametrize("variants, control, message", [
    ([("A", "similar", 0.5), ("B", "diverse", 0.6)], None, "sum to 1"),
    ([("A", "similar", 1.0)], None, "at least 2 variants"),
    ([("A", "similar", 0.5), ("A", "diverse", 0.5)], None, "repeat"),
    ([("A", "similar", 0.5), ("B", "diverse", math.nan)], None, "share"),
    ([("A", "similar", 1.0), ("B", "diverse", 0.0)], None, "share"),
    ([("A", "", 0.5), ("B", "diverse", 0.5)], None, "config"),
    ([("A", "similar", 0.5), ("B", "diverse", 0.5)], "Z", "control 'Z' is not a variant"),
])
def test_definitions_are_validated(variants, control, message):
    with pytest.raises(ValidationError, match=message):
        X.define("e", variants, control)


def test_create_get_list_and_duplicate_names(db):
    exp = X.create_experiment(db, "home-ab", [{"name": "A", "config": "similar", "share": 0.5},
                                              X.Variant("B", "diverse", 0.5)], description="home page")
    assert (exp.status, exp.control, exp.winner) == ("running", "A", None)
    got = X.get_experiment(db, "home-ab")
    assert got.variants == [X.Variant("A", "similar", 0.5), X.Variant("B", "diverse", 0.5)]
    assert [e.name for e in X.list_experiments(db)] == ["home-ab"]
    with pytest.raises(ValidationError, match="already exists"):
        X.create_experiment(db, "home-ab", THREE)
    with pytest.raises(NotFound):
        X.get_experiment(db, "nope")


def test_assignment_honours_the_shares():
    exp = X.define("shares", THREE)
    observed = X.shares_of(exp, [f"user-{i}" for i in range(10_000)])
    for v in exp.variants:
        assert abs(observed[v.name] - v.share) <= 0.02, (v.name, observed)


def test_assignment_is_stable_across_processes():
    """Another interpreter with a different hash seed must assign every unit the same way."""
    exp = X.define("stable", THREE)
    ids = [f"u{i}" for i in range(300)] + [12345]
    here = [X.assign(exp, u).name for u in ids]
    assert here == [X.assign(exp, u).name for u in ids]
    code = ("import json, sys; from engine.insights import experiments as X; "
            "exp = X.define('stable', [('A', 'similar', 0.2), ('B', 'diverse', 0.3), ('C', 'margin', 0.5)]); "
            "print(json.dumps([X.assign(exp, u).name for u in json.loads(sys.argv[1])]))")
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, json.dumps(ids)], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True)
    assert json.loads(out.stdout) == here
    # a different experiment name splits the same users differently
    other = X.define("other", THREE)
    assert [X.assign(other, u).name for u in ids] != here


def test_bucket_rejects_empty_units():
    with pytest.raises(ValidationError):
        X.bucket("e", "")


def test_stop_sends_everyone_to_the_winner(db):
    X.create_experiment(db, "e", THREE)
    with pytest.raises(ValidationError, match="winner 'Z'"):
        X.stop(db, "e", "Z")
    exp = X.stop(db, "e", "C")
    assert (exp.status, exp.winner) == ("stopped", "C") and exp.stopped_at is not None
    assert {X.assign(exp, f"u{i}").name for i in range(200)} == {"C"}
    assert X.get_experiment(db, "e").status == "stopped"
    no_winner = X.stop(db, X.create_experiment(db, "f", THREE))
    assert {X.assign(no_winner, f"u{i}").name for i in range(50)} == {"A"}  # control


# ---- results ---------------------------------------------------------------------------------------------------

def log_variant(db: Database, exp: str, variant: str, impressions: int, clicks: int, purchases: int = 0) -> None:
    events = [Event("impression", f"{variant}-{i}", i, experiment=exp, variant=variant, algorithm="vector_combined")
              for i in range(impressions)]
    events += [Event("click", f"{variant}-{i}", i, experiment=exp, variant=variant, algorithm="vector_combined")
               for i in range(clicks)]
    events += [Event("purchase", f"{variant}-{i}", i, experiment=exp, variant=variant, algorithm="vector_combined")
               for i in range(purchases)]
    EventLog(db).log_many(events)


def expected_comparison(x1, n1, x0, n0):
    """Two-proportion normal approximation, written out: unpooled SE for the interval, pooled for the test."""
    p1, p0 = x1 / n1, x0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    pp = (x1 + x0) / (n1 + n0)
    z = (p1 - p0) / math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
    zc = NormalDist().inv_cdf(0.975)
    return p1 - p0, p1 - p0 - zc * se, p1 - p0 + zc * se, 2 * (1 - NormalDist().cdf(abs(z)))


def test_a_clear_difference_is_significant(db):
    X.create_experiment(db, "clear", [("A", "similar", 0.5), ("B", "diverse", 0.5)])
    log_variant(db, "clear", "A", 1000, 50, 10)
    log_variant(db, "clear", "B", 1000, 100, 12)
    res = X.results(db, "clear")
    a, b = res.table.iloc[0], res.table.iloc[1]
    assert (a.variant, bool(a.control), b.variant) == ("A", True, "B")
    assert (b.impressions, b.clicks, b.purchases) == (1000, 100, 12)
    assert b.ctr == pytest.approx(100 / 1000) and a.ctr == pytest.approx(50 / 1000)
    diff, low, high, p = expected_comparison(100, 1000, 50, 1000)
    assert (b.ctr_diff, b.ctr_diff_low, b.ctr_diff_high) == pytest.approx((diff, low, high))
    assert b.ctr_p_value == pytest.approx(p) and p < 0.001
    assert bool(b.ctr_significant) and res.leader == "B"
    cdiff, clow, chigh, cp = expected_comparison(12, 1000, 10, 1000)
    assert (b.conversion_diff, b.conversion_diff_low, b.conversion_diff_high, b.conversion_p_value) == \
        pytest.approx((cdiff, clow, chigh, cp))
    assert not bool(b.conversion_significant)
    assert math.isnan(a.ctr_diff) and not bool(a.ctr_significant)


def test_no_real_difference_is_not_significant(db):
    X.create_experiment(db, "flat", [("A", "similar", 0.5), ("B", "diverse", 0.5)])
    log_variant(db, "flat", "A", 1000, 50)
    log_variant(db, "flat", "B", 1000, 52)
    res = X.results(db, "flat")
    b = res.table.iloc[1]
    diff, low, high, p = expected_comparison(52, 1000, 50, 1000)
    assert b.ctr_p_value == pytest.approx(p) and p > 0.5
    assert low < 0 < high and not bool(b.ctr_significant) and res.leader is None


def test_results_with_no_traffic_and_stray_variants(db):
    X.create_experiment(db, "quiet", [("A", "similar", 0.5), ("B", "diverse", 0.5)])
    log_variant(db, "quiet", "Z", 3, 1)
    res = X.results(db, "quiet")
    assert list(res.table.variant) == ["A", "B", "Z"]
    assert list(res.table.impressions) == [0, 0, 3]
    assert math.isnan(res.table.ctr_p_value.iloc[1])
    assert any("Z" in n for n in res.notes) and any("no impressions" in n for n in res.notes)
    with pytest.raises(ValidationError):
        X.results(db, "quiet", alpha=1.5)


def test_two_proportion_edge_cases():
    same = X.two_proportion(0, 100, 0, 100)
    assert (same.diff, same.p_value) == (0.0, 1.0) and not same.significant()
    assert math.isnan(X.two_proportion(1, 0, 1, 10).p_value)
