"""The config document: the schema file generated from the models, round trip, full validation (every error,
with its path), YAML errors with lines, all-or-nothing saving and the fingerprint. Diff and version history:
tests/merchandising/test_history.py."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from engine.recommend.config import (EVENT_KINDS, SCHEMA_PATH, DiversityConfig, RecoConfig, dump, fingerprint, load, save, schema, validate_document, write_schema)
from engine.errors import ConfigError, NotFound
from engine.insights import events, popularity
from engine.recommend.looks import ComplementaryTarget
from engine.recommend.rerank import FactorParams, Strategy
from engine.recommend.rules import Rule

MINIMAL = "schema_version: 2\nversion: v1\n"


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

def test_event_kinds_and_weights_match_the_event_log_and_popularity():
    # Repeated in the config module so that reading a config does not load the database layer.
    assert EVENT_KINDS == events.SHOPPER_KINDS  # what shoppers do carries a weight; `served` is the service's own
    # `served` rows are what the service answered, never a shopper's signal: weight 0, and not a config knob
    assert RecoConfig.default().events.weights == {k: w for k, w in popularity.DEFAULT_WEIGHTS.items()
                                                   if k in events.SHOPPER_KINDS}
    assert popularity.DEFAULT_WEIGHTS["served"] == 0.0
    assert RecoConfig.default().events.half_life_hours == popularity.DEFAULT_HALF_LIFE_HOURS


def test_committed_schema_file_is_the_one_generated_from_the_models(tmp_path: Path):
    # config.schema.json is what other readers validate against: after a model changes, write_schema() must
    # be run (module docstring of engine/recommend/config_document.py) or this fails.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == write_schema(tmp_path / "schema.json").read_text(encoding="utf-8")
    doc = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert doc == schema()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["required"] == ["schema_version", "version"] and doc["additionalProperties"] is False


def test_schema_carries_the_names_and_the_pin_slot_rule_for_other_readers():
    doc = schema()
    weights = doc["$defs"]["StrategyDoc"]["properties"]["weights"]
    assert weights["propertyNames"]["enum"][0] == "similarity" and "colour" not in weights["propertyNames"]["enum"]
    assert doc["$defs"]["EventsDoc"]["properties"]["weights"]["propertyNames"] == {"enum": list(EVENT_KINDS)}
    assert doc["properties"]["strategies"]["propertyNames"] == {"pattern": "^[A-Za-z0-9_.-]{1,64}$"}
    rule = doc["$defs"]["RuleDoc"]
    assert rule["then"]["required"] == ["slot"] and rule["else"]["properties"]["slot"] == {"type": "null"}
    assert "default" not in _keys(doc)  # a left-out field takes the engine's built-in, not a placeholder


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


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


def test_configs_edited_in_code_are_checked_as_documents():
    # The console and tuning code build configs with dataclasses.replace and check them afterwards: building
    # never raises, and errors() speaks in the same paths as a loaded file.
    cfg = replace(RecoConfig.default(), text_weight=2.0, rules=[Rule("p", "pin", 5), Rule("h", "hide", 6, slot=1)])
    assert cfg.errors() == ["$.rules[0].slot: a pin needs a slot (1 = first position)",
                            "$.rules[1].slot: only pins have a slot",
                            "$.text_weight: Input should be less than or equal to 1, got 2.0"]
    with pytest.raises(ConfigError):
        cfg.validate()
    doc = cfg.to_dict()
    doc["strategies"]["balanced"]["weights"]["price"] = 9.0
    doc["rules"][0]["slot"] = 1
    assert "price" not in cfg.strategies["balanced"].weights and cfg.rules[0].slot is None  # a copy


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
    ("version: 3\n", "$.version: Input should be a valid string, got 3"),
    ("text_weight: 1.5\n", "$.text_weight: Input should be less than or equal to 1, got 1.5"),
    ("text_weight: '0.5'\n", "$.text_weight: Input should be a valid number, got '0.5'"),  # strict: text is not a number
    ("encoders: {text: use, audio: x}\n", "$.encoders.audio: Extra inputs are not permitted"),
    ("strategies: {s: {weights: {similarity: -1}}}\n",
     "$.strategies.s.weights.similarity: Input should be greater than or equal to 0, got -1"),
    ("strategies: {s: {weights: {}}}\n", "$.strategies.s.weights: at least one weight is needed"),
    ("strategies: {s: {description: no weights}}\n", "$.strategies.s.weights: Field required"),
    ("strategies: {'bad name': {weights: {price: 1}}}\n", "$.strategies['bad name']: a strategy name is 1 to 64"),
    ("diversity: {mmr_lambda: 2}\n", "$.diversity.mmr_lambda: Input should be less than or equal to 1, got 2"),
    ("diversity: {collapse_k: 0}\n", "$.diversity.collapse_k: Input should be greater than or equal to 1, got 0"),
    ("diversity: {collapse_k: 1.5}\n", "$.diversity.collapse_k: Input should be a valid integer, got 1.5"),
    ("factors: {price_scale: 0}\n", "$.factors.price_scale: Input should be greater than 0, got 0"),
    ("rules: [{id: a, action: pin, product_id: 5}]\n", "$.rules[0].slot: a pin needs a slot (1 = first position)"),
    ("rules: [{id: a, action: boost, product_id: 5}]\n", "$.rules[0].action: Input should be 'pin' or 'hide', got 'boost'"),
    ("rules: [{id: a, action: hide, product_id: x}]\n", "$.rules[0].product_id: Input should be a valid integer, got 'x'"),
    ("rules: [{id: a, action: hide, product_id: true}]\n", "$.rules[0].product_id: Input should be a valid integer, got True"),
    ("rules: [{id: a, action: pin, product_id: 5, slot: 0}]\n", "$.rules[0].slot: Input should be greater than or equal to 1"),
    ("rules: [{id: a, action: hide, product_id: 5, scope: 'shelf:2'}]\n",
     "$.rules[0].scope: scope must be 'global', 'category:<id>', 'brand:<name>' or 'product:<id>', got 'shelf:2'"),
    ("complementary: {Men/Tops: [{category: Gear/Bags}]}\n", "$.complementary['Men/Tops'][0].relation: Field required"),
    ("complementary: {Men/Tops: [{category: Gear/Bags, relation: bag, max_items: 0}]}\n",
     "$.complementary['Men/Tops'][0].max_items: Input should be greater than or equal to 1, got 0"),
    ("complementary: {Men/Tops: [{category: true, relation: bag}]}\n",
     "$.complementary['Men/Tops'][0].category: must be a category path or id, got True"),
    ("events: {half_life_hours: 0}\n", "$.events.half_life_hours: Input should be greater than 0, got 0"),
    ("events: {weights: {click: -1}}\n", "$.events.weights.click: Input should be greater than or equal to 0, got -1"),
    ("events: {weights: {Click: 1}}\n", "$.events.weights.Click: unknown event kind 'Click'"),
    ("personalisation: {enabled: maybe}\n", "$.personalisation.enabled: Input should be a valid boolean, got 'maybe'"),
    ("colour_boost: 1\n", "$.colour_boost: Extra inputs are not permitted"),
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
    ("factors: {price_up_band: .inf}\n", "$.factors.price_up_band: must be a finite number, got inf"),
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
    ("schema_version: 3\n", "$.schema_version: this engine reads schema_version 1 to 2, got 3"),
    ("schema_version: 0\n", "$.schema_version: Input should be greater than or equal to 1, got 0"),
    ("schema_version: '2'\n", "$.schema_version: Input should be a valid integer, got '2'"),
    ("created_at: yesterday\n", "$.created_at: not an ISO 8601 date-time"),
])
def test_each_semantic_error_is_reported_with_its_path(fragment: str, expected: str):
    text = MINIMAL.replace("schema_version: 2\n", "") if fragment.startswith("schema_version") else MINIMAL
    with pytest.raises(ConfigError) as e:
        load(text + fragment)
    assert any(err.startswith(expected) for err in e.value.errors), e.value.errors


def test_many_errors_are_listed_at_once():
    text = ("schema_version: 2\n"  # version missing
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
    assert paths == sorted(paths)  # listed in path order, stable between runs
    for p in ("$.version", "$.text_weight", "$.default_strategy", "$.strategies.s.weights.similarity",
              "$.strategies.s.weights.colour", "$.diversity.mmr_lambda", "$.diversity.collapse_k", "$.rules[0].slot",
              "$.rules[1].id", "$.rules[1].slot"):
        assert p in paths, (p, e.value.errors)
    assert len(e.value.errors) == 10
    assert "$.version: Field required" in str(e.value)  # the message itself lists them too


# ---------------------------------------------------------------- YAML errors

def test_malformed_yaml_reports_line_and_column():
    text = "schema_version: 2\nversion: v1\nstrategies: {a: [1, 2\nrules: []\n"
    with pytest.raises(ConfigError) as e:
        load(text)
    assert len(e.value.errors) == 1
    assert e.value.errors[0].startswith("line 4, column 6:")
    assert "line 3" in e.value.errors[0]  # where the unclosed bracket began


def test_bad_indentation_reports_line():
    with pytest.raises(ConfigError) as e:
        load("schema_version: 2\nversion: v1\n  text_weight: 0.5\n")
    assert e.value.errors[0].startswith("line 3, column 14:")


def test_duplicate_keys_are_errors_with_line_and_path():
    text = MINIMAL + "strategies:\n  s: {weights: {price: 1}}\n  s: {weights: {price: 2, price: 3}}\ntext_weight: 3\n"
    with pytest.raises(ConfigError) as e:
        load(text)
    assert e.value.errors == ["$.strategies: duplicate key 's' at line 5",
                              "$.strategies.s.weights: duplicate key 'price' at line 5",
                              "$.text_weight: Input should be less than or equal to 1, got 3"]


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
    assert "$.strategies.broken.weights.similarity: Input should be greater than or equal to 0, got -1.0" \
        in e.value.errors
    assert "$.rules[2].slot: a pin needs a slot (1 = first position)" in e.value.errors
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
