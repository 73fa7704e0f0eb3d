"""Schema version 2 of the config document: the migration of older documents (a version 1 document ranks
as it did), and the new fields — rules' match, starts, ends and brand scope; boosts — validated with their
JSON paths and carried through dump, load and the fingerprint."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from engine.errors import ConfigError
from engine.recommend.boosts import Boost
from engine.recommend.config import SCHEMA_VERSION, RecoConfig, dump, fingerprint, from_dict, load, migrate, schema
from engine.recommend.config_document import MIGRATIONS
from engine.recommend.rules import Rule
from merch_world import MerchWorld, merch_world, plain_config, skus

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "configs"
MINIMAL = "schema_version: 2\nversion: v1\n"


# ---------------------------------------------------------------- migration

def test_every_older_version_has_a_step():
    assert SCHEMA_VERSION == 2
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_v1_rules_are_migrated_to_per_sku_without_touching_the_input():
    v1 = {"schema_version": 1, "version": "old", "rules": [
        {"id": "h", "action": "hide", "product_id": 3},
        {"id": "p", "action": "pin", "product_id": 5, "slot": 1, "match": "style"}]}
    before = copy.deepcopy(v1)
    v2 = migrate(v1)
    assert v1 == before  # the input is never changed
    assert v2["schema_version"] == 2
    assert [r.get("match") for r in v2["rules"]] == ["sku", "style"]  # a match already written is kept
    v2["rules"][0]["slot"] = 9
    assert "slot" not in v1["rules"][0]  # nothing shared with the input
    assert migrate({"schema_version": 1, "version": "x"}) == {"schema_version": 2, "version": "x"}
    assert migrate(v2) == v2 and migrate(v2) is not v2  # a current document comes back as a copy


@pytest.mark.parametrize("version", [0, 3, "1", True, None, 1.0])
def test_migrate_refuses_versions_it_does_not_know_at_the_path(version):
    with pytest.raises(ConfigError) as e:
        migrate({"schema_version": version, "version": "x"})
    assert e.value.errors == [f"$.schema_version: this engine reads schema_version 1 to 2, got {version!r}"]


def test_the_v1_corpus_document_still_loads_per_sku():
    cfg = load(CORPUS / "v1-rules.yaml")
    assert cfg.schema_version == 2
    assert [(r.id, r.match, r.starts, r.ends) for r in cfg.rules] == [("hide-1", "sku", None, None),
                                                                    ("pin-1", "sku", None, None)]
    assert cfg.boosts == [] and cfg.rules[1].scope == "category:10"
    again = load(dump(cfg))
    assert again == cfg and "match: sku" in dump(cfg)  # once written again, the meaning is explicit


def test_a_broken_v1_document_is_reported_after_migration_with_its_paths():
    with pytest.raises(ConfigError) as e:
        load("schema_version: 1\nversion: v\nrules: [{id: a, action: pin, product_id: 5}, 7]\n")
    assert "$.rules[0].slot: a pin needs a slot (1 = first position)" in e.value.errors
    assert any(err.startswith("$.rules[1]: Input should be a valid dictionary") for err in e.value.errors)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> MerchWorld:
    return merch_world(tmp_path_factory)


def test_a_v1_document_ranks_as_it_did(world):
    red, green = world.id("TEE-RED"), world.id("TEE-GRN")
    text = ("schema_version: 1\nversion: published-long-ago\ndefault_strategy: relevance\n"
            "diversity: {mmr_lambda: null, collapse_k: null}\n"
            f"rules:\n- {{id: hide-1, action: hide, product_id: {red}}}\n"
            f"- {{id: pin-1, action: pin, product_id: {green}, slot: 1}}\n")
    organic = skus(world.similar(plain_config()))
    as_v1 = skus(world.similar(load(text)))
    # Version 1 meaning: the red tee alone hidden, the green one itself in the first slot.
    assert as_v1 == ["TEE-GRN"] + [s for s in organic if s not in ("TEE-RED", "TEE-GRN")]
    per_sku = plain_config(rules=[Rule("hide-1", "hide", red, match="sku"),
                                  Rule("pin-1", "pin", green, slot=1, match="sku")])
    assert as_v1 == skus(world.similar(per_sku))
    # A published version is stored as JSON of its whole document and read back through from_dict.
    stored = json.loads(json.dumps(yaml.safe_load(text)))
    assert skus(world.similar(from_dict(stored))) == as_v1
    # The same rules read as version 2 mean the whole style: the other colours go too.
    as_v2 = skus(world.similar(load(text.replace("schema_version: 1", "schema_version: 2"))))
    assert as_v2 != as_v1 and "TEE-BLU" not in as_v2 and "TEE-BLU" in as_v1


# ---------------------------------------------------------------- the new fields, each error with its path

def boost(body: str) -> str:
    return f"boosts: [{{id: b, {body}}}]\n"


CONDITIONS = "stock_below, margin_above, new_within_days, brand_in, colour_in"


@pytest.mark.parametrize("fragment, expected", [
    ("rules: [{id: a, action: hide, product_id: 5, match: colour}]\n",
     "$.rules[0].match: Input should be 'sku' or 'style', got 'colour'"),
    ("rules: [{id: a, action: hide, product_id: 5, starts: soon}]\n",
     "$.rules[0].starts: not an ISO 8601 date-time: 'soon'"),
    ("rules: [{id: a, action: hide, product_id: 5, ends: 5}]\n",
     "$.rules[0].ends: Input should be a valid string, got 5"),
    ("rules: [{id: a, action: hide, product_id: 5, starts: 2026-12-02, ends: 2026-12-01}]\n",
     "$.rules[0].ends: ends 2026-12-01 must be after starts 2026-12-02"),
    ("rules: [{id: a, action: hide, product_id: 5, starts: '2026-12-02T10:00',\n"
     "         ends: '2026-12-02T12:00+02:00'}]\n",  # the same instant
     "$.rules[0].ends: ends 2026-12-02T12:00+02:00 must be after starts 2026-12-02T10:00"),
    ("rules: [{id: a, action: hide, product_id: 5, scope: 'brand:  '}]\n", "$.rules[0].scope: scope must be"),
    ("rules: [{id: a, action: hide, product_id: 5, scope: 'shelf:2'}]\n", "$.rules[0].scope: scope must be"),
    ("rules: [{id: a, action: hide, product_id: 5, scope: 'category: 2'}]\n", "$.rules[0].scope: scope must be"),
    (boost("when: {}, strength: 1"), f"$.boosts[0].when: needs exactly one condition of {CONDITIONS}, got 0"),
    (boost("when: {stock_below: 3, brand_in: [x]}, strength: 1"),
     f"$.boosts[0].when: needs exactly one condition of {CONDITIONS}, got 2: stock_below, brand_in"),
    (boost("when: {price_below: 3}, strength: 1"), "$.boosts[0].when.price_below: Extra inputs are not permitted"),
    (boost("strength: 1"), "$.boosts[0].when: Field required"),
    (boost("when: {stock_below: 3}"), "$.boosts[0].strength: Field required"),
    (boost("when: {stock_below: 3}, strength: 0"), "$.boosts[0].strength: a strength of 0 changes nothing"),
    (boost("when: {stock_below: 3}, strength: 1.5"),
     "$.boosts[0].strength: Input should be less than or equal to 1, got 1.5"),
    (boost("when: {stock_below: 3}, strength: -2"),
     "$.boosts[0].strength: Input should be greater than or equal to -1, got -2"),
    (boost("when: {stock_below: 3}, strength: '1'"), "$.boosts[0].strength: Input should be a valid number, got '1'"),
    (boost("when: {stock_below: 3}, strength: .nan"), "$.boosts[0].strength: must be a finite number"),
    (boost("when: {stock_below: 0}, strength: 1"),
     "$.boosts[0].when.stock_below: Input should be greater than or equal to 1, got 0"),
    (boost("when: {stock_below: 2.5}, strength: 1"),
     "$.boosts[0].when.stock_below: Input should be a valid integer, got 2.5"),
    (boost("when: {margin_above: 1.5}, strength: 1"),
     "$.boosts[0].when.margin_above: Input should be less than or equal to 1, got 1.5"),
    (boost("when: {new_within_days: -1}, strength: 1"),
     "$.boosts[0].when.new_within_days: Input should be greater than or equal to 1, got -1"),
    (boost("when: {brand_in: []}, strength: 1"), "$.boosts[0].when.brand_in: List should have at least 1 item"),
    (boost("when: {brand_in: Luma}, strength: 1"),
     "$.boosts[0].when.brand_in: Input should be a valid list, got 'Luma'"),
    (boost("when: {colour_in: ['  ']}, strength: 1"), "$.boosts[0].when.colour_in[0]: a name cannot be empty"),
    (boost("when: {stock_below: 3}, strength: 1, scope: shelf"), "$.boosts[0].scope: scope must be 'global'"),
    (boost("when: {stock_below: 3}, strength: 1, starts: 2026-12-02, ends: 2026-11-02"),
     "$.boosts[0].ends: ends 2026-11-02 must be after starts 2026-12-02"),
    (boost("when: {stock_below: 3}, strength: 1, weight: 2"), "$.boosts[0].weight: Extra inputs are not permitted"),
    ("boosts: [{id: b, when: {stock_below: 3}, strength: 1}, {id: b, when: {stock_below: 4}, strength: -1}]\n",
     "$.boosts[1].id: duplicate boost id 'b' (also boosts[0])"),
    ("boosts: {b: 1}\n", "$.boosts: Input should be a valid list"),
])
def test_each_new_field_error_is_reported_with_its_path(fragment, expected):
    with pytest.raises(ConfigError) as e:
        load(MINIMAL + fragment)
    assert any(err.startswith(expected) for err in e.value.errors), e.value.errors


def test_pins_may_share_a_slot_in_windows_that_do_not_overlap():
    black_friday = "{id: bf, action: pin, product_id: 5, slot: 1, starts: '2026-11-27', ends: '2026-11-30'}"
    christmas = "{id: xm, action: pin, product_id: 6, slot: 1, starts: '2026-11-30', ends: '2026-12-26'}"
    always = "{id: al, action: pin, product_id: 7, slot: 1}"
    assert [r.id for r in load(MINIMAL + f"rules: [{black_friday}, {christmas}]\n").rules] == ["bf", "xm"]
    with pytest.raises(ConfigError, match=r"\$\.rules\[2\]\.slot: slot 1 in scope global is already pinned by "
                                          r"rules\[0\]"):
        load(MINIMAL + f"rules: [{black_friday}, {christmas}, {always}]\n")
    twice = "rules: [{id: a, action: hide, product_id: 5, ends: '2026-01-01'}, {id: b, action: hide, product_id: 5}]\n"
    with pytest.raises(ConfigError, match=r"\$\.rules\[1\]: repeats rules\[0\]"):
        load(MINIMAL + twice)
    per_sku = "rules: [{id: a, action: hide, product_id: 5}, {id: b, action: hide, product_id: 5, match: sku}]\n"
    assert len(load(MINIMAL + per_sku).rules) == 2  # per style and per SKU are not the same rule


def full() -> RecoConfig:
    cfg = plain_config()
    cfg.rules = [Rule("h", "hide", 3, scope="brand:Luma", match="sku", starts="2026-12-01T09:00:00+00:00"),
                 Rule("p", "pin", 4, slot=2, ends="2026-12-24T18:00:00", note="until Christmas")]
    cfg.boosts = [Boost("low", {"stock_below": 5}, -0.5, note="do not promote what runs out"),
                  Boost("new", {"new_within_days": 14}, 0.2, scope="category:7", starts="2026-11-01"),
                  Boost("brand", {"brand_in": ["Luma", "Zeta"]}, 1.0, ends="2027-01-01T00:00:00Z")]
    return cfg.validate()


def test_new_fields_round_trip_and_shape_the_fingerprint():
    cfg = full()
    assert load(dump(cfg)) == cfg
    doc = cfg.to_dict()
    assert doc["rules"][1] == {"id": "p", "action": "pin", "product_id": 4, "slot": 2, "scope": "global",
                               "note": "until Christmas", "match": "style", "ends": "2026-12-24T18:00:00"}
    assert doc["boosts"][0] == {"id": "low", "when": {"stock_below": 5}, "strength": -0.5, "scope": "global",
                                "note": "do not promote what runs out"}
    fp = fingerprint(cfg)
    stronger = full()
    stronger.boosts[0].strength = -0.6
    assert fingerprint(stronger) != fp
    windowed = full()
    windowed.rules[1].ends = "2026-12-25T18:00:00"
    assert fingerprint(windowed) != fp
    assert RecoConfig.default().boosts == [] and "boosts: []" in dump(RecoConfig.default())


def test_configs_edited_in_code_report_new_fields_at_their_paths():
    cfg = full()
    cfg.boosts.append(Boost("low", {"stock_below": 2, "colour_in": ["red"]}, 0.0))
    cfg.rules.append(Rule("q", "hide", 9, match="size", starts="2026-12-02", ends="2026-12-01"))
    errors = cfg.errors()
    for expected in ("$.boosts[3].id: duplicate boost id 'low' (also boosts[0])",
                     "$.boosts[3].when: needs exactly one condition",
                     "$.boosts[3].strength: a strength of 0 changes nothing",
                     "$.rules[2].match: Input should be 'sku' or 'style', got 'size'",
                     "$.rules[2].ends: ends 2026-12-01 must be after starts 2026-12-02"):
        assert any(e.startswith(expected) for e in errors), (expected, errors)


def test_the_schema_tells_other_readers_about_boosts_and_scopes():
    doc = schema()
    assert doc["$id"] == "urn:vitrina:reco-config:2"
    when = doc["$defs"]["WhenDoc"]
    assert when["minProperties"] == 1 and when["maxProperties"] == 1 and when["additionalProperties"] is False
    assert set(when["properties"]) == set(CONDITIONS.split(", "))
    rule = doc["$defs"]["RuleDoc"]["properties"]
    assert rule["match"]["enum"] == ["sku", "style"] and rule["starts"]["format"] == "date-time"
    assert "brand:" in rule["scope"]["pattern"]
    assert doc["$defs"]["BoostDoc"]["required"] == ["id", "when", "strength"]
