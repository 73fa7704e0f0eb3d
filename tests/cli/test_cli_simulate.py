"""`python -m engine simulate` speaks of the live config: after a publish that adds a custom strategy and makes
it the default, every simulated event names one of the config's strategies (the custom one included, no name
the config lacks) and carries the published version, and the simulated experiment's control is the default
strategy."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.cli.main import main
from engine.insights.experiments import get_experiment
from engine.insights.simulate import SIM_EXPERIMENT, STRATEGY_LIFT
from engine.merchandising.edits import with_strategy
from engine.recommend.config import RecoConfig, dump
from engine.settings import Settings

CUSTOM = "pop_heavy"  # not a built-in: the simulator's own defaults cannot produce it


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A data folder of its own with a six-product catalog (the simulator needs products, not an index)."""
    path = tmp_path / "data"
    for name, value in {"VITRINA_DATA_DIR": str(path), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
                        "VITRINA_IMAGE_ENCODER": "descriptor"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title,price,colour\n" + "".join(f"SKU-{i},Item {i},{5 + 3 * i},{('red', 'blue')[i % 2]}\n"
                                                          for i in range(6)), encoding="utf-8")
    assert main(["import", str(feed), "--json"]) == 0
    return path


def _publish_custom_default(tmp_path: Path) -> RecoConfig:
    base = RecoConfig.default()
    cfg = with_strategy(base, CUSTOM, base.strategies["balanced"].weights, make_default=True)
    doc = tmp_path / "custom.yaml"
    doc.write_text(dump(cfg), encoding="utf-8")
    assert main(["config", "import", str(doc), "--editor", "Ann", "--json"]) == 0
    assert main(["config", "publish", "--author", "Ann", "-m", "popularity first", "--json"]) == 0
    return cfg


def test_simulated_events_carry_the_live_configs_strategies_and_version(data_dir, tmp_path, capsys):
    cfg = _publish_custom_default(tmp_path)
    assert CUSTOM not in STRATEGY_LIFT
    capsys.readouterr()
    assert main(["simulate", "--days", "2", "--shoppers", "30", "--seed", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] > 0

    db = Database(Settings().sql_url)
    try:
        with db.engine.connect() as conn:
            versions = dict(conn.execute(select(EventRow.config_version, func.count())
                                         .group_by(EventRow.config_version)).all())
            named = set(conn.execute(select(EventRow.strategy).where(EventRow.strategy.is_not(None))
                                     .group_by(EventRow.strategy)).scalars())
        assert versions == {2: report["events"]}  # version 1 is the first-run defaults, 2 the publish above
        assert named == set(cfg.strategies) and CUSTOM in named
        experiment = get_experiment(db, SIM_EXPERIMENT)
        control = experiment.variant(experiment.control)
        assert control.config == CUSTOM
        assert {v.config for v in experiment.variants} <= set(cfg.strategies)
    finally:
        db.engine.dispose()


def test_the_text_output_names_the_version_and_the_strategies(data_dir, tmp_path, capsys):
    cfg = _publish_custom_default(tmp_path)
    capsys.readouterr()
    assert main(["simulate", "--days", "1", "--shoppers", "5"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "served by config version 2" in line and f"(strategies {', '.join(cfg.strategies)})" in line, line


def test_stats_reports_its_period_and_the_revenue_of_that_period(data_dir, capsys):
    assert main(["simulate", "--days", "5", "--shoppers", "40", "--json"]) == 0
    capsys.readouterr()
    assert main(["stats", "--json", "--days", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["period"]["days"] == 30 and out["period"]["incomplete"] == []
    db = Database(Settings().sql_url)
    with db.engine.connect() as conn:
        revenue = conn.execute(select(func.sum(EventRow.price * EventRow.quantity))
                               .where(EventRow.kind == "purchase")).scalar_one()
        served = conn.execute(select(func.count()).where(EventRow.kind == "served")).scalar_one()
    assert revenue > 0 and out["revenue"]["revenue"] == pytest.approx(revenue, abs=0.01)
    assert sum(a["served"] for a in out["algorithms"]) == served
    assert main(["stats", "--json", "--since", "2000-01-01"]) == 0
    assert json.loads(capsys.readouterr().out)["revenue"]["revenue"] == pytest.approx(revenue, abs=0.01)
    assert main(["stats"]) == 0
    text = capsys.readouterr().out
    assert "period " in text and "revenue " in text and "without price" in text
    assert main(["stats", "--since", "3000-01-01"]) == 2  # a future start is refused, not an empty answer
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it, with the usage line
        main(["stats", "--since", "yesterday"])
    assert exit_.value.code == 2 and "must be a date" in capsys.readouterr().err
