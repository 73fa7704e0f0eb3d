"""engine/merchandising/history.py: what changed between two configs (matched by identity, not position) and
the exported versions kept in a folder, newest first, with invalid ones refused or listed with their error."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.errors import ConfigError, NotFound
from engine.merchandising.history import Change, ConfigHistory, diff
from engine.recommend.config import dump, fingerprint, load
from engine.recommend.looks import ComplementaryTarget
from engine.recommend.rules import Rule
from test_config import custom


# ---------------------------------------------------------------- diff

def test_diff_lists_each_change():
    a = custom()
    b = load(dump(a))
    b.strategies["balanced"].weights["stock"] = 0.2
    b.strategies["margin-first"].weights.pop("similarity")
    del b.strategies["upsell"]
    b.rules[0].slot = 1
    b.rules.append(Rule("hide-x", "hide", 8))
    b.complementary["Men/Tops"][0] = ComplementaryTarget("Men/Bottoms", "bottom", 3)
    b.diversity.mmr_lambda = None
    changes = diff(a, b)
    assert changes == [
        Change("strategies.balanced.weights.stock", 0.05, 0.2),
        Change("strategies.upsell", a.to_dict()["strategies"]["upsell"], None),  # built-ins come first
        Change("strategies['margin-first'].weights.similarity", 1.0, None),
        Change("diversity.mmr_lambda", 0.6, None),
        Change("rules['pin-bag'].slot", 2, 1),
        Change("rules['hide-x']", None, {"action": "hide", "product_id": 8, "scope": "global", "note": ""}),
        Change("complementary['Men/Tops']['Men/Bottoms'].max_items", 2, 3),
    ]
    assert [c.kind for c in changes] == ["changed", "removed", "removed", "removed", "changed", "added", "changed"]
    assert diff(a, load(dump(a))) == []


def test_diff_ignores_rule_reordering():
    a = custom()
    b = load(dump(a))
    b.rules.reverse()
    assert diff(a, b) == []


# ---------------------------------------------------------------- history

def test_history_saves_lists_and_loads_versions(tmp_path: Path):
    hist = ConfigHistory(tmp_path / "configs")
    assert hist.list() == [] and hist.latest() is None
    t1 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=timezone.utc)
    t2 = datetime(2026, 11, 26, 11, 30, 0, 123456, tzinfo=timezone.utc)
    v1 = hist.save(custom(), now=t1)
    second = custom()
    second.text_weight = 0.3
    v2 = hist.save(second, now=t2)
    assert v1.name == "config-20261126T100000000000Z.yaml"
    assert v2.version == "20261126T113000123456Z"
    assert v2.created_at == "2026-11-26T11:30:00.123456+00:00"
    listed = hist.list()
    assert [v.name for v in listed] == [v2.name, v1.name]  # newest first
    assert listed[1].fingerprint == fingerprint(custom())
    assert hist.latest().text_weight == 0.3
    assert hist.load(v1.name).text_weight == 0.7
    assert hist.load("20261126T100000000000Z").version == "20261126T100000000000Z"
    assert [c.path for c in diff(hist.load(v1.name), hist.load(v2.name))] == ["version", "created_at", "text_weight"]
    with pytest.raises(NotFound):
        hist.load("nothing-like-this")


def test_history_same_instant_gets_distinct_names(tmp_path: Path):
    hist = ConfigHistory(tmp_path)
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    a, b = hist.save(custom(), now=t), hist.save(custom(), now=t)
    assert a.name != b.name and b.name.endswith("-1.yaml")
    assert [v.name for v in hist.list()] == [b.name, a.name]


def test_history_refuses_invalid_and_lists_corrupt_files(tmp_path: Path):
    hist = ConfigHistory(tmp_path)
    bad = custom()
    bad.text_weight = 2.0
    with pytest.raises(ConfigError, match="text_weight"):
        hist.save(bad)
    with pytest.raises(ConfigError, match="text_weight"):
        ConfigHistory(tmp_path / "not-yet").save(bad)
    assert list(tmp_path.iterdir()) == []  # neither a file nor a folder for a refused config
    good = hist.save(custom(), now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    (tmp_path / "config-20270101T000000000000Z.yaml").write_text("schema_version: 1\nversion: [\n")
    listed = hist.list()
    assert listed[0].error is not None and "line" in listed[0].error
    assert listed[1].name == good.name and listed[1].error is None
