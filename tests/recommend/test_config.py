"""The config document: round trip, full validation (every error, with its path), YAML errors with lines,
all-or-nothing saving, fingerprint, diff and the version history."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.recommend.config import (EVENT_KINDS, SCHEMA_PATH, Change, ConfigHistory, DiversityConfig, RecoConfig, diff, dump, fingerprint, load, save, validate_document)
from engine.errors import ConfigError, NotFound
from engine.recommend.looks import ComplementaryTarget
from engine.recommend.rerank import FactorParams, Strategy
from engine.recommend.rules import Rule

MINIMAL = "schema_version: 1\nversion: v1\n"


def custom() -> RecoConfig:
    cfg = RecoConfig.default()
    cfg.version = "2026-11-26-a"
    cfg.created_at = "2026-11-26T10:00:00+00:00"
    cfg.text_weight = 0.7
    cfg.strategies["margin-first"] = Strategy("margin-first", {"margin": 2.0, "similarity": 1.0}, "Sale season.")
    cfg.default_strategy = "margin-first"
    cfg.diversity = DiversityConfig(mmr_lambda=0.6, collapse_k=2)
    cfg.factors = FactorParams(price_scale=0.5, stock_saturation=10)
    cfg.rules = [Rule("pin-bag", "pin", 14, slot=2, scope="category:7", note="Autumn campaign"),
                 Rule("hide-old", "hide", 3)]
    cfg.complementary = {"Men/Tops": [ComplementaryTarget("Men/Bottoms", "bottom", 2)],
                         "12": [ComplementaryTarget("Gear/Bags", "bag", 1)]}
    cfg.events.weights["impression"] = 0.5
    cfg.personalisation.enabled = True
    return cfg


# ---------------------------------------------------------------- schema file and round trip

def test_event_kinds_and_weights_match_the_event_log_and_analytics():
    from engine.insights import analytics, events
    assert EVENT_KINDS == events.EVENT_KINDS
    assert RecoConfig.default().events.weights == analytics.DEFAULT_WEIGHTS
    assert RecoConfig.default().events.half_life_hours == analytics.DEFAULT_HALF_LIFE_HOURS


def test_schema_is_valid_draft_2020_12():
    doc = json.loads(SCHEMA_PATH.read_text())
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)


def test_default_round_trip():
    cfg = RecoConfig.default()
    assert validate_document(cfg.to_dict()) == []
    assert load(dump(cfg)) == cfg


def test_custom_round_trip_through_text_and_files(tmp_path: Path):
    cfg = custom()
    assert load(dump(cfg)) == cfg
    path = save(cfg, tmp_path / "sub" / "reco.yaml")
    assert load(path) == cfg  # a Path
    assert load(str(path)) == cfg  # a string naming a file
    assert RecoConfig.load(path.read_bytes()) == cfg
    again = load(dump(load(path)))
    assert again == cfg and again.strategy().weights == {"margin": 2.0, "similarity": 1.0}


def test_minimal_document_takes_builtin_defaults():
    cfg = load(MINIMAL)
    assert cfg.version == "v1"
    assert cfg.default_strategy == "balanced"
    assert set(cfg.strategies) == {"relevance", "balanced", "trending", "upsell"}
    assert cfg.complementary == RecoConfig.default().complementary
    assert cfg.rules == []


def test_document_strategies_add_to_and_override_builtins():
    cfg = load(MINIMAL + "strategies:\n  relevance: {weights: {similarity: 2}}\n  mine: {weights: {stock: 1}}\n"
               "default_strategy: mine\n")
    assert cfg.strategies["relevance"].weights == {"similarity": 2.0}
    assert cfg.strategy().name == "mine"
    assert "trending" in cfg.strategies
    with pytest.raises(NotFound):
        cfg.strategy("nope")


def test_unquoted_yaml_timestamps_and_numeric_keys_are_read_as_text():
    cfg = load(MINIMAL + "created_at: 2026-11-26T10:00:00Z\ncomplementary:\n  12:\n    - {category: 40, relation: bag}\n")
    assert cfg.created_at == "2026-11-26T10:00:00+00:00"
    assert cfg.complementary == {"12": [ComplementaryTarget("40", "bag", 1)]}


# ---------------------------------------------------------------- schema errors, each with its path

@pytest.mark.parametrize("fragment, expected", [
    ("version: 3\n", "$.version: 3 is not of type 'string'"),
    ("text_weight: 1.5\n", "$.text_weight: 1.5 is greater than the maximum of 1"),
    ("encoders: {text: use, audio: x}\n", "$.encoders: Additional properties are not allowed ('audio' was unexpected)"),
    ("strategies: {s: {weights: {similarity: -1}}}\n", "$.strategies.s.weights.similarity: -1 is less than the minimum of 0"),
    ("strategies: {s: {weights: {}}}\n", "$.strategies.s.weights: {} should be non-empty"),
    ("strategies: {s: {description: no weights}}\n", "$.strategies.s: 'weights' is a required property"),
    ("strategies: {'bad name': {weights: {price: 1}}}\n", "$.strategies: 'bad name' does not match"),
    ("diversity: {mmr_lambda: 2}\n", "$.diversity.mmr_lambda: 2 is greater than the maximum of 1"),
    ("diversity: {collapse_k: 0}\n", "$.diversity.collapse_k: 0 is less than the minimum of 1"),
    ("diversity: {collapse_k: 1.5}\n", "$.diversity.collapse_k: 1.5 is not of type 'integer', 'null'"),
    ("factors: {price_scale: 0}\n", "$.factors.price_scale: 0 is less than or equal to the minimum of 0"),
    ("rules: [{id: a, action: pin, product_id: 5}]\n", "$.rules[0]: 'slot' is a required property"),
    ("rules: [{id: a, action: boost, product_id: 5}]\n", "$.rules[0].action: 'boost' is not one of ['pin', 'hide']"),
    ("rules: [{id: a, action: hide, product_id: x}]\n", "$.rules[0].product_id: 'x' is not of type 'integer'"),
    ("rules: [{id: a, action: pin, product_id: 5, slot: 0}]\n", "$.rules[0].slot: 0 is less than the minimum of 1"),
    ("rules: [{id: a, action: hide, product_id: 5, scope: 'brand:2'}]\n", "$.rules[0].scope: 'brand:2' does not match"),
    ("complementary: {Men/Tops: [{category: Gear/Bags}]}\n", "$.complementary['Men/Tops'][0]: 'relation' is a required property"),
    ("complementary: {Men/Tops: [{category: Gear/Bags, relation: bag, max_items: 0}]}\n",
     "$.complementary['Men/Tops'][0].max_items: 0 is less than the minimum of 1"),
    ("events: {half_life_hours: 0}\n", "$.events.half_life_hours: 0 is less than or equal to the minimum of 0"),
    ("events: {weights: {click: -1}}\n", "$.events.weights.click: -1 is less than the minimum of 0"),
    ("events: {weights: {Click: 1}}\n", "$.events.weights: 'Click' does not match"),
    ("personalisation: {enabled: maybe}\n", "$.personalisation.enabled: 'maybe' is not of type 'boolean'"),
    ("colour_boost: 1\n", "$: Additional properties are not allowed ('colour_boost' was unexpected)"),
])
def test_each_schema_error_is_reported_with_its_path(fragment: str, expected: str):
    with pytest.raises(ConfigError) as e:
        load(MINIMAL + fragment)
    assert any(err.startswith(expected) for err in e.value.errors), e.value.errors


@pytest.mark.parametrize("fragment, expected", [
    ("default_strategy: nope\n", "$.default_strategy: unknown strategy 'nope'"),
    ("strategies: {s: {weights: {colour: 1}}}\n", "$.strategies.s.weights.colour: unknown factor 'colour'"),
    ("strategies: {s: {weights: {price: 0, stock: 0}}}\n", "$.strategies.s.weights: at least one weight must be positive"),
    ("strategies: {s: {weights: {price: .nan}}}\n", "$.strategies.s.weights.price: must be a finite number"),
    ("text_weight: .nan\n", "$.text_weight: must be a finite number"),
    ("rules: [{id: a, action: pin, product_id: 5, slot: 500}]\n", "$.rules[0].slot: slot 500 is beyond the longest list"),
    ("rules: [{id: a, action: hide, product_id: 5, slot: 2}]\n", "$.rules[0].slot: only pins have a slot"),
    ("rules: [{id: a, action: hide, product_id: 5}, {id: a, action: hide, product_id: 6}]\n",
     "$.rules[1].id: duplicate rule id 'a'"),
    ("rules: [{id: a, action: pin, product_id: 5, slot: 1}, {id: b, action: pin, product_id: 6, slot: 1}]\n",
     "$.rules[1].slot: slot 1 in scope global is already pinned by rules[0]"),
    ("rules: [{id: a, action: hide, product_id: 5}, {id: b, action: hide, product_id: 5}]\n",
     "$.rules[1]: repeats rules[0]"),
    ("complementary: {Men/Tops: [{category: men / tops, relation: x}]}\n",
     "$.complementary['Men/Tops'][0].category: a category cannot complement itself"),
    ("complementary: {Men/Tops: [{category: Gear/Bags, relation: a}, {category: Gear/Bags, relation: b}]}\n",
     "$.complementary['Men/Tops'][1].category: 'Gear/Bags' is listed twice"),
    ("complementary: {Men/Tops: [], Men / Tops: []}\n", "$.complementary['Men / Tops']: the same category as 'Men/Tops'"),
    ("events: {weights: {view: 1}}\n", "$.events.weights.view: unknown event kind 'view'"),
    ("schema_version: 2\n", "$.schema_version: this engine reads schema_version 1, got 2"),
    ("created_at: yesterday\n", "$.created_at: not an ISO 8601 date-time"),
])
def test_each_semantic_error_is_reported_with_its_path(fragment: str, expected: str):
    text = MINIMAL.replace("schema_version: 1\n", "") if fragment.startswith("schema_version") else MINIMAL
    with pytest.raises(ConfigError) as e:
        load(text + fragment)
    assert any(err.startswith(expected) for err in e.value.errors), e.value.errors


def test_many_errors_are_listed_at_once():
    text = ("schema_version: 1\n"  # version missing
            "text_weight: -1\n"
            "default_strategy: ghost\n"
            "strategies:\n"
            "  s: {weights: {similarity: -2, colour: 1}}\n"
            "diversity: {mmr_lambda: 3, collapse_k: 0}\n"
            "rules:\n"
            "  - {id: r, action: pin, product_id: 1}\n"
            "  - {id: r, action: hide, product_id: 2, slot: 3}\n")
    with pytest.raises(ConfigError) as e:
        load(text)
    paths = [err.split(": ", 1)[0] for err in e.value.errors]
    assert paths == sorted(paths) and paths[0] == "$"  # listed in path order, stable between runs
    for p in ("$", "$.text_weight", "$.default_strategy", "$.strategies.s.weights.similarity",
              "$.strategies.s.weights.colour", "$.diversity.mmr_lambda", "$.diversity.collapse_k", "$.rules[0]",
              "$.rules[1].id", "$.rules[1].slot"):
        assert p in paths, (p, e.value.errors)
    assert len(e.value.errors) == 10
    assert "'version' is a required property" in str(e.value)  # the message itself lists them too


# ---------------------------------------------------------------- YAML errors

def test_malformed_yaml_reports_line_and_column():
    text = "schema_version: 1\nversion: v1\nstrategies: {a: [1, 2\nrules: []\n"
    with pytest.raises(ConfigError) as e:
        load(text)
    assert len(e.value.errors) == 1
    assert e.value.errors[0].startswith("line 4, column 6:")
    assert "line 3" in e.value.errors[0]  # where the unclosed bracket began


def test_bad_indentation_reports_line():
    with pytest.raises(ConfigError) as e:
        load("schema_version: 1\nversion: v1\n  text_weight: 0.5\n")
    assert e.value.errors[0].startswith("line 3, column 14:")


def test_duplicate_keys_are_errors_with_line_and_path():
    text = MINIMAL + "strategies:\n  s: {weights: {price: 1}}\n  s: {weights: {price: 2, price: 3}}\ntext_weight: 3\n"
    with pytest.raises(ConfigError) as e:
        load(text)
    assert e.value.errors == ["$.strategies: duplicate key 's' at line 5",
                              "$.strategies.s.weights: duplicate key 'price' at line 5",
                              "$.text_weight: 3 is greater than the maximum of 1"]


def test_empty_or_non_mapping_documents():
    with pytest.raises(ConfigError, match="empty"):
        load("")
    with pytest.raises(ConfigError, match="mapping"):
        load("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="not found"):
        load("/nonexistent/reco.yaml")


# ---------------------------------------------------------------- nothing applied

def test_invalid_config_is_never_written(tmp_path: Path):
    path = save(custom(), tmp_path / "reco.yaml")
    before = path.read_text()
    bad = custom()
    bad.strategies["broken"] = Strategy("broken", {"similarity": -1.0})
    bad.rules.append(Rule("pin-bag", "pin", 99))
    with pytest.raises(ConfigError) as e:
        save(bad, path)
    assert "$.strategies.broken.weights.similarity: -1.0 is less than the minimum of 0" in e.value.errors
    assert "$.rules[2]: 'slot' is a required property" in e.value.errors
    assert "$.rules[2].id: duplicate rule id 'pin-bag' (also rules[0])" in e.value.errors
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reco.yaml"]  # no temp file left behind


def test_failed_load_returns_nothing_and_leaves_current_config_alone():
    current = custom()
    snapshot = dump(current)
    edited = snapshot.replace("text_weight: 0.7", "text_weight: 7")
    with pytest.raises(ConfigError):
        current = load(edited)
    assert dump(current) == snapshot


# ---------------------------------------------------------------- fingerprint

def test_fingerprint_is_stable_and_content_based():
    a = custom()
    fp = fingerprint(a)
    assert len(fp) == 64 and fp == fingerprint(load(dump(a)))
    relabelled = load(dump(a))
    relabelled.version, relabelled.created_at = "another-label", "2030-01-01T00:00:00+00:00"
    assert fingerprint(relabelled) == fp  # labels are not content
    reordered = load(dump(a))
    reordered.strategies["margin-first"].weights = {"similarity": 1.0, "margin": 2.0}
    assert fingerprint(reordered) == fp  # key order is not content
    changed = load(dump(a))
    changed.strategies["balanced"].weights["price"] = 0.11
    assert fingerprint(changed) != fp
    swapped = load(dump(a))
    swapped.rules.reverse()  # rule order decides conflicts: it is content
    assert fingerprint(swapped) != fp


def test_fingerprint_of_independently_built_equal_content_is_equal():
    # Two configs built separately with identical content share the fingerprint (no object identity or
    # process state leaks into it), and it differs from the built-in defaults'.
    assert fingerprint(custom()) == fingerprint(custom())
    assert fingerprint(custom()) != fingerprint(RecoConfig.default())


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
    assert list(tmp_path.iterdir()) == []
    good = hist.save(custom(), now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    (tmp_path / "config-20270101T000000000000Z.yaml").write_text("schema_version: 1\nversion: [\n")
    listed = hist.list()
    assert listed[0].error is not None and "line" in listed[0].error
    assert listed[1].name == good.name and listed[1].error is None
