"""The Rules page's edits: rules per style or SKU with a window, boosts and buries, brand scopes, and the
status of every rule and boost (inactive ones greyed out with why) — on the small real catalog of
tests/recommend/merch_world.py (SQLite + embedded Qdrant)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import ConfigError, NotFound, ValidationError
from engine.merchandising.edits import (SCOPE_CHOICES, SCOPE_KINDS, RuleStatus, describe_scope, rule_status, scope_text,
                                        with_boost, with_rule, without_boosts, without_rules)
from engine.recommend.boosts import Boost
from merch_world import MerchWorld, merch_world, plain_config, skus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> MerchWorld:
    return merch_world(tmp_path_factory)


def test_with_rule_defaults_to_the_style_and_keeps_positional_callers(world):
    red = world.id("TEE-RED")
    cfg = with_rule(plain_config(), "hide", red, None, scope_text("everywhere"), "sold out")  # as app_pages/rules.py
    rule = cfg.rules[0]
    assert (rule.id, rule.match, rule.scope, rule.note, rule.starts, rule.ends) == \
        ("hide-1", "style", "global", "sold out", None, None)
    assert not {"TEE-RED", "TEE-BLU", "TEE-GRN"} & set(skus(world.similar(cfg)))
    sku = with_rule(plain_config(), "hide", red, match="sku")
    assert {"TEE-BLU", "TEE-GRN"} <= set(skus(world.similar(sku))) and "TEE-RED" not in skus(world.similar(sku))


def test_with_rule_takes_a_window_as_datetimes_or_text():
    starts = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    cfg = with_rule(plain_config(), "pin", 5, 1, starts=starts, ends="2026-12-24T18:00:00")
    assert (cfg.rules[0].starts, cfg.rules[0].ends) == ("2026-12-01T09:00:00+00:00", "2026-12-24T18:00:00")
    with pytest.raises(ConfigError) as e:
        with_rule(plain_config(), "pin", 5, 1, starts=starts, ends=starts - timedelta(days=1))
    assert e.value.errors == ["$.rules[0].ends: ends 2026-11-30T09:00:00+00:00 must be after starts "
                              "2026-12-01T09:00:00+00:00"]
    with pytest.raises(ConfigError, match=r"\$\.rules\[0\]\.match: Input should be 'sku' or 'style'"):
        with_rule(plain_config(), "hide", 5, match="colour")


def test_boosts_are_added_with_fresh_ids_validated_and_removed(world):
    cfg = with_boost(plain_config(), "stock_below", 5, 1.0, note="clear the last units")
    cfg = with_boost(cfg, "brand_in", "Acme", -0.5, scope=scope_text("brand", " Acme "))
    cfg = with_boost(cfg, "colour_in", ("green", "Grey"), 0.3, starts="2026-11-01", ends=NOW)
    assert [(b.id, b.when, b.strength, b.scope) for b in cfg.boosts] == [
        ("boost-1", {"stock_below": 5}, 1.0, "global"), ("bury-1", {"brand_in": ["Acme"]}, -0.5, "brand:Acme"),
        ("boost-2", {"colour_in": ["green", "Grey"]}, 0.3, "global")]
    assert cfg.boosts[2].ends == "2026-11-26T12:00:00+00:00"
    organic = skus(world.similar(plain_config()))
    first = skus(world.similar(with_boost(plain_config(), "stock_below", 5, 1)))
    assert first[:4] == [s for s in organic if s in {"TEE-BLU", "TANK-1", "CROP-1", "BOXY-1"}]
    assert [b.id for b in without_boosts(cfg, ["bury-1"]).boosts] == ["boost-1", "boost-2"]
    assert with_boost(without_boosts(cfg, ["boost-1"]), "stock_below", 3, 0.1).boosts[-1].id == "boost-1"
    with pytest.raises(NotFound, match="no boost with id nope"):
        without_boosts(cfg, ["nope"])


@pytest.mark.parametrize("condition, value, strength, expected", [
    ("stock_below", 5, 0, "$.boosts[0].strength: a strength of 0 changes nothing"),
    ("stock_below", 5, 2, "$.boosts[0].strength: Input should be less than or equal to 1, got 2.0"),
    ("stock_below", "5", 1, "$.boosts[0].when.stock_below: Input should be a valid integer, got '5'"),
    ("margin_above", 40, 1, "$.boosts[0].when.margin_above: Input should be less than or equal to 1, got 40"),
    ("price_below", 5, 1, "$.boosts[0].when.price_below: Extra inputs are not permitted"),
    ("brand_in", [], 1, "$.boosts[0].when.brand_in: List should have at least 1 item"),
])
def test_with_boost_lists_problems_with_their_paths(condition, value, strength, expected):
    with pytest.raises(ConfigError) as e:
        with_boost(plain_config(), condition, value, strength)
    assert any(err.startswith(expected) for err in e.value.errors), e.value.errors


def test_brand_scopes_are_made_and_read(world):
    assert set(SCOPE_CHOICES) == set(SCOPE_KINDS) | {"brand"}
    assert scope_text("brand", "  Acme ") == "brand:Acme"
    for bad in (None, "", "  ", 3):
        with pytest.raises(ValidationError, match="brand scope needs a brand name"):
            scope_text("brand", bad)
    assert describe_scope("brand:Acme", world.runtime.catalog) == "brand Acme"
    assert describe_scope(scope_text("product", world.id("SRC")), world.runtime.catalog) == "product SRC"


def test_rule_status_greys_out_what_does_not_act_and_says_why(world):
    gone = max(world.runtime.catalog.ids()) + 1000
    cfg = with_rule(plain_config(), "hide", world.id("TEE-RED"))
    cfg = with_rule(cfg, "pin", world.id("POLO-1"), 1, starts="2026-12-01T09:00:00")
    cfg = with_rule(cfg, "pin", world.id("TANK-1"), 2, ends="2026-11-20T18:00:00+00:00")
    cfg = with_rule(cfg, "hide", gone, note="a product deleted since")
    cfg = with_boost(cfg, "stock_below", 5, 0.5, ends="2026-12-24T18:00:00")
    cfg = with_boost(cfg, "brand_in", ["Zeta"], -0.5, starts="2027-01-01")
    assert rule_status(cfg, world.runtime.catalog, NOW) == [
        RuleStatus("hide-1", "rule", True, "active"),
        RuleStatus("pin-1", "rule", False, "starts 2026-12-01 09:00 UTC"),
        RuleStatus("pin-2", "rule", False, "ended 2026-11-20 18:00 UTC"),
        RuleStatus("hide-2", "rule", False, "product no longer in the catalog"),
        RuleStatus("boost-1", "boost", True, "active until 2026-12-24 18:00 UTC"),
        RuleStatus("bury-1", "boost", False, "starts 2027-01-01 00:00 UTC"),
    ]
    later = rule_status(cfg, world.runtime.catalog, datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert [s.active for s in later] == [True, True, False, False, True, False]
    assert [s.id for s in rule_status(without_rules(cfg, ["hide-2"]), world.runtime.catalog, NOW)][:3] == \
        ["hide-1", "pin-1", "pin-2"]


def test_a_boost_record_from_the_page_matches_the_document():
    cfg = with_boost(plain_config(), "new_within_days", 14, 0.25, scope="category:7")
    assert cfg.boosts == [Boost("boost-1", {"new_within_days": 14}, 0.25, "category:7")]
