"""Strategy names are the config's names: the simulator serves the names it is given, analytics label names
the config no longer has as retired (never dropping their events), experiments can be checked against the
config's names, and running_strategies tells which names a running experiment holds."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights import analytics as A
from engine.insights import dashboards as D
from engine.insights import experiments as X
from engine.insights.events import Event, EventLog
from engine.insights.simulate import SIM_EXPERIMENT, STRATEGY_LIFT, ProductMeta, simulate, strategy_lifts
from engine.recommend.config import RecoConfig
from engine.recommend.rerank import BUILTIN_STRATEGIES

END = datetime(2024, 6, 1)
CONFIG_NAMES = [*BUILTIN_STRATEGIES, "pop_heavy"]
PRODUCTS = [ProductMeta(i, i % 3, 10.0 + i, ("red", "blue")[i % 2]) for i in range(1, 31)]


def logged(db: Database, *columns) -> set[tuple]:
    with db.engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(*columns).distinct())}


# ---- labels ---------------------------------------------------------------------------------------------------

def test_names_the_config_lacks_are_retired_and_the_old_simulator_names_map_to_nothing():
    labels = A.strategy_labels(["balanced", "similar", "diverse", "margin", "pop_heavy", None],
                               RecoConfig().strategies)
    assert labels == {"balanced": "balanced", "similar": "similar (retired)", "diverse": "diverse (retired)",
                      "margin": "margin (retired)", "pop_heavy": "pop_heavy (retired)"}
    assert A.strategy_labels(["pop_heavy"], CONFIG_NAMES) == {"pop_heavy": "pop_heavy"}
    with pytest.raises(ValidationError, match="list of names"):
        A.strategy_labels(["balanced"], "balanced")


@pytest.fixture()
def db(tmp_path) -> Database:
    """Day 1: 4 impressions and 1 click under balanced, 2 impressions under the old simulator's `similar`,
    1 impression and 1 click under `gone` (deleted since), 1 impression from no strategy."""
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    t = END
    events = [Event("impression", "a", p, ts=t, algorithm="vector_text", strategy="balanced", position=p)
              for p in range(4)]
    events += [Event("click", "a", 0, ts=t, algorithm="vector_text", strategy="balanced", position=0)]
    events += [Event("impression", "b", p, ts=t, algorithm="trending", strategy="similar", position=p)
               for p in range(2)]
    events += [Event("impression", "c", 9, ts=t, algorithm="trending", strategy="gone", position=0),
               Event("click", "c", 9, ts=t, algorithm="trending", strategy="gone", position=0),
               Event("impression", "d", 5, ts=t, algorithm="trending", position=0)]
    EventLog(db).log_many(events)
    return db


def test_grouping_by_strategy_keeps_retired_events_under_their_label(db):
    known = RecoConfig().strategies
    m = A.metrics(db, "strategy", known_strategies=known).set_index("strategy")
    assert m.loc["balanced", ["impressions", "clicks"]].tolist() == [4, 1]
    assert m.loc["similar (retired)", "impressions"] == 2
    assert m.loc["gone (retired)", ["impressions", "clicks", "ctr"]].tolist() == [1, 1, 1.0]
    assert m["impressions"].sum() == 8  # nothing dropped, the strategy-less impression included
    plain = A.metrics(db, "strategy")
    assert set(plain["strategy"].dropna()) == {"balanced", "similar", "gone"}  # unchanged without the names
    both = A.metrics(db, ["algorithm", "strategy"], known_strategies=known)
    assert ("trending", "similar (retired)") in set(zip(both["algorithm"], both["strategy"]))
    table = D.rate_table(db, "strategy", known_strategies=known)
    assert list(table["strategy"]) == ["balanced", "gone (retired)", "similar (retired)"]
    per_day = A.daily(db, by="strategy", known_strategies=known)
    assert set(per_day["strategy"].dropna()) == {"balanced", "gone (retired)", "similar (retired)"}
    assert A.logged_strategies(db) == ["balanced", "gone", "similar"]


# ---- experiments ----------------------------------------------------------------------------------------------

def test_variants_are_checked_against_the_known_strategies(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValidationError) as err:
        X.create_experiment(db, "typo", [("A", "balanced", 0.5), ("B", "balanc", 0.5)],
                            known_strategies=RecoConfig().strategies)
    assert "variant 'B' serves 'balanc'" in str(err.value)
    assert "Known strategies: relevance, balanced, trending, upsell" in str(err.value)
    assert X.list_experiments(db) == []
    exp = X.create_experiment(db, "ok", [("A", "balanced", 0.5), ("B", "pop_heavy", 0.5)],
                              known_strategies=CONFIG_NAMES)
    assert [v.config for v in exp.variants] == ["balanced", "pop_heavy"]
    X.define("free", [("A", "anything", 0.5), ("B", "v7", 0.5)])  # without names: no check, as before


def test_running_strategies_are_those_of_running_experiments_only(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    assert X.running_strategies(db) == set()
    X.create_experiment(db, "one", [("A", "balanced", 0.5), ("B", "pop_heavy", 0.5)])
    X.create_experiment(db, "two", [("A", "balanced", 0.5), ("B", "upsell", 0.5)])
    X.create_experiment(db, "old", [("A", "relevance", 0.5), ("B", "trending", 0.5)])
    X.stop(db, "old")
    assert X.running_strategies(db) == {"balanced", "pop_heavy", "upsell"}
    labelled = D.experiment_table(X.list_experiments(db), known_strategies=["balanced", "relevance", "trending"])
    assert labelled["variants"].tolist()[0] == "A: balanced 50% · B: pop_heavy (retired) 50%"


# ---- the simulator --------------------------------------------------------------------------------------------

def test_built_in_lifts_cover_exactly_the_built_in_strategies_and_others_get_one():
    assert set(STRATEGY_LIFT) == set(BUILTIN_STRATEGIES)
    assert strategy_lifts(CONFIG_NAMES) == {**STRATEGY_LIFT, "pop_heavy": 1.0}
    assert strategy_lifts(CONFIG_NAMES) == strategy_lifts(CONFIG_NAMES)  # no hashing, no randomness
    assert len(set(STRATEGY_LIFT.values())) > 1  # the strategies differ, so the dashboards have something to show


def test_the_simulator_serves_the_names_it_is_given_with_the_default_as_control(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'sim.db'}")
    report = simulate(db, PRODUCTS, shoppers=40, days=3, seed=3, end=END, strategies=CONFIG_NAMES,
                      default_strategy="upsell", config_version=5)
    assert report.experiment == SIM_EXPERIMENT
    assert {s for (s,) in logged(db, EventRow.strategy)} <= set(CONFIG_NAMES)
    assert {v for (v,) in logged(db, EventRow.config_version)} == {5}
    exp = X.get_experiment(db, SIM_EXPERIMENT)
    assert [(v.name, v.config) for v in exp.variants] == [("A", "upsell"), ("B", "relevance")]
    assert exp.control == "A"


def test_without_names_the_simulator_uses_the_built_ins(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'b.db'}")
    simulate(db, PRODUCTS, shoppers=30, days=3, seed=4, end=END)
    assert {s for (s,) in logged(db, EventRow.strategy)} <= set(BUILTIN_STRATEGIES)
    assert {v for (v,) in logged(db, EventRow.config_version)} == {None}
    exp = X.get_experiment(db, SIM_EXPERIMENT)
    assert [v.config for v in exp.variants] == ["relevance", "balanced"]


def test_an_older_experiment_serving_names_this_run_lacks_is_left_alone(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'o.db'}")
    X.create_experiment(db, SIM_EXPERIMENT, [("A", "similar", 0.5), ("B", "diverse", 0.5)], simulated=True)
    report = simulate(db, PRODUCTS, shoppers=30, days=3, seed=5, end=END, strategies=CONFIG_NAMES)
    assert report.experiment is None
    assert {s for (s,) in logged(db, EventRow.strategy)} <= set(CONFIG_NAMES)
    assert logged(db, EventRow.experiment) == {(None,)}


@pytest.mark.parametrize("kwargs, message", [
    ({"strategies": ["balanced", "upsell"], "default_strategy": "relevance"}, "not one of the strategies"),
    ({"config_version": 0}, "config_version"),
])
def test_bad_simulator_names_and_versions_are_refused(tmp_path, kwargs, message):
    db = Database(f"sqlite:///{tmp_path / 'bad.db'}")
    with pytest.raises(ValidationError, match=message):
        simulate(db, PRODUCTS, end=END, **kwargs)
    assert EventLog(db).count() == 0


def test_simulated_events_keep_their_strategies_through_a_later_rename(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    simulate(db, PRODUCTS, shoppers=30, days=3, seed=6, end=END, strategies=["balanced", "pop_heavy"],
             experiment=False)
    after_rename = ["relevance", "balanced", "trending", "upsell", "pop_v2"]
    table = D.rate_table(db, "strategy", known_strategies=after_rename)
    assert set(table["strategy"]) == {"balanced", "pop_heavy (retired)"}
    with db.engine.connect() as conn:
        served = len(conn.execute(select(EventRow.id).where(EventRow.kind == "served")).all())
    assert table["served"].sum() == served  # every event still counted, under its label
