"""The rules merchandisers expect: per style or per SKU, time windows, brand scope. On real ranked lists
(merch_world: SQLite + USE text vectors in embedded Qdrant, through the Recommender facade) and, for the
precedence details, on hand-made lists."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import ValidationError
from engine.recommend.config import DiversityConfig
from engine.recommend.looks import ComplementaryTarget
from engine.recommend.rules import Rule, apply_rules, hider, parse_time, winning_pins
from engine.types import Filters, ProductCard, Recommendation
from merch_world import MerchWorld, merch_world, plain_config, skus

TEE = {"TEE-RED", "TEE-BLU", "TEE-GRN"}  # one style in three colours


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> MerchWorld:
    return merch_world(tmp_path_factory)


# ---------------------------------------------------------------- per style or per SKU

def test_a_hide_per_style_hides_every_colour_and_per_sku_only_one(world):
    organic = skus(world.similar(plain_config()))
    assert TEE <= set(organic)
    red = world.id("TEE-RED")
    by_style = skus(world.similar(plain_config(rules=[Rule("h", "hide", red)])))  # match left out: style
    assert not TEE & set(by_style) and by_style == [s for s in organic if s not in TEE]
    by_sku = skus(world.similar(plain_config(rules=[Rule("h", "hide", red, match="sku")])))
    assert by_sku == [s for s in organic if s != "TEE-RED"]


def test_a_style_hide_holds_when_the_filters_leave_its_own_product_out(world):
    # The rule names the red tee; a shopper filtering on blue never sees the red one among the candidates,
    # and the blue colour of the hidden style must still stay out.
    blue = Filters(colours=["blue"])
    organic = skus(world.similar(plain_config(), filters=blue))
    assert "TEE-BLU" in organic and "TEE-RED" not in organic
    hidden = skus(world.similar(plain_config(rules=[Rule("h", "hide", world.id("TEE-RED"))]), filters=blue))
    assert hidden == [s for s in organic if s != "TEE-BLU"]


def test_a_pin_per_style_places_the_best_ranked_variant(world):
    organic = skus(world.similar(plain_config()))
    best = next(s for s in organic if s in TEE)
    assert best != "TEE-GRN"  # the rule names another colour than the one that lands
    out = skus(world.similar(plain_config(rules=[Rule("p", "pin", world.id("TEE-GRN"), slot=1)])))
    assert out == [best] + [s for s in organic if s != best]
    out = skus(world.similar(plain_config(rules=[Rule("p", "pin", world.id("TEE-GRN"), slot=1, match="sku")])))
    assert out == ["TEE-GRN"] + [s for s in organic if s != "TEE-GRN"]


def test_a_pin_per_style_falls_back_to_its_own_product_outside_the_pool(world):
    # Filtered to white, no tee of the style is a candidate: the pinned product itself is fetched... unless
    # it fails the filters too, which a pin never overrides.
    white = Filters(colours=["white"])
    organic = skus(world.similar(plain_config(), filters=white))
    assert not TEE & set(organic)
    out = skus(world.similar(plain_config(rules=[Rule("p", "pin", world.id("TEE-GRN"), slot=2)]), filters=white))
    assert out == organic
    out = skus(world.similar(plain_config(rules=[Rule("p", "pin", world.id("TEE-GRN"), slot=2)])))
    assert out[1] in TEE


def test_the_source_style_is_never_pinned_into_its_own_list(world):
    organic = skus(world.similar(plain_config(), "TEE-RED"))
    assert {"TEE-BLU", "TEE-GRN"} <= set(organic)
    style = plain_config(rules=[Rule("p", "pin", world.id("TEE-GRN"), slot=1)])
    assert skus(world.similar(style, "TEE-RED")) == organic
    sku = plain_config(rules=[Rule("p", "pin", world.id("TEE-GRN"), slot=1, match="sku")])
    assert skus(world.similar(sku, "TEE-RED"))[0] == "TEE-GRN"  # per SKU a sibling colour may be pinned


def test_style_rules_with_variant_collapse(world):
    one = DiversityConfig(mmr_lambda=None, collapse_k=1)
    organic = skus(world.similar(plain_config(diversity=one)))
    shown = next(s for s in organic if s in TEE)
    out = skus(world.similar(plain_config(diversity=one, rules=[Rule("h", "hide", world.id(shown), match="sku")])))
    assert shown not in out and len(TEE & set(out)) == 1  # another colour takes the style's place
    out = skus(world.similar(plain_config(diversity=one, rules=[Rule("h", "hide", world.id(shown))])))
    assert not TEE & set(out)


def test_complete_the_look_hides_per_style_too(world):
    look_map = {"Women/Tops/Tees": [ComplementaryTarget("Women/Bottoms/Shorts", "bottom", 3)]}

    def look(*rules: Rule, colours: tuple[str, ...] = ()) -> list[str]:
        cfg = plain_config(complementary=look_map, rules=list(rules))
        return skus(world.recommender(cfg).complete_the_look("SRC", filters=Filters(colours=list(colours))))

    organic = look()
    assert "CARGO-1" in organic and len({"SHORTS-BLK", "SHORTS-BRN"} & set(organic)) == 1  # one per style
    assert look(Rule("h", "hide", world.id("SHORTS-BLK"))) == ["CARGO-1"]
    assert "SHORTS-BRN" in look(Rule("h", "hide", world.id("SHORTS-BLK"), match="sku"))
    # Filtered to black, the brown shorts the rule names are no candidate; their black colour still goes.
    assert look(colours=("black",)) == ["SHORTS-BLK"]
    assert look(Rule("h", "hide", world.id("SHORTS-BRN")), colours=("black",)) == []


# ---------------------------------------------------------------- time windows

def test_a_rule_acts_only_inside_its_window(world):
    now = datetime.now(timezone.utc)
    organic = skus(world.similar(plain_config()))
    last = organic[-1]

    def first(starts, ends):
        rule = Rule("p", "pin", world.id(last), slot=1, match="sku", starts=starts, ends=ends)
        return skus(world.similar(plain_config(rules=[rule])))[0]

    assert first((now + timedelta(hours=1)).isoformat(), None) == organic[0]  # before it starts
    assert first((now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()) == last
    assert first(None, (now - timedelta(minutes=1)).isoformat()) == organic[0]  # after it ended
    naive = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()  # naive means UTC
    assert first(naive, None) == last


def test_status_says_why_in_words():
    r = Rule("p", "pin", 1, slot=1, starts="2026-12-01T09:00:00", ends="2026-12-24T18:00:00+00:00")
    assert r.status(datetime(2026, 11, 30, tzinfo=timezone.utc)) == (False, "starts 2026-12-01 09:00 UTC")
    assert r.status(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)) == (True, "active until 2026-12-24 18:00 UTC")
    assert r.status(datetime(2026, 12, 24, 18, 0)) == (False, "ended 2026-12-24 18:00 UTC")  # ends is excluded
    in_kyiv = Rule("h", "hide", 1, ends="2026-11-20T20:00:00+02:00")
    assert in_kyiv.status(datetime(2026, 11, 21, tzinfo=timezone.utc)) == (False, "ended 2026-11-20 18:00 UTC")
    assert Rule("h", "hide", 1).status() == (True, "active")
    assert parse_time("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------- brand scope

def test_a_brand_scope_follows_the_source_brand(world):
    rule = Rule("h", "hide", world.id("POLO-1"), scope="brand:  acme")  # SRC is "Acme"; any case, spaces
    acme = skus(world.similar(plain_config(rules=[rule]), "SRC"))
    assert "POLO-1" not in acme and len(acme) == len(skus(world.similar(plain_config(), "SRC"))) - 1
    assert "POLO-1" in skus(world.similar(plain_config(rules=[rule]), "HENLEY-1"))  # a Zeta source
    text = world.recommender(plain_config(rules=[rule])).search_by_text("cotton polo shirt", n=5)
    assert "POLO-1" in skus(text)  # no source, no brand: the rule sleeps


# ---------------------------------------------------------------- precedence, on hand-made lists

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
SOURCE = ProductCard(id=100, sku="S", title="S", price=50.0, brand="Luma", category_ids=[11, 10, 1],
                     category_id=11, group_key="SG")


def card(pid: int, group: str | None = None) -> ProductCard:
    return ProductCard(id=pid, sku=f"P{pid}", title=f"P{pid}", price=10.0, group_key=group)


def ranked(*cards: ProductCard) -> list[Recommendation]:
    return [Recommendation(product=c, score=1.0 - i / 10, vector="text") for i, c in enumerate(cards)]


def ids(recs: list[Recommendation]) -> list[int]:
    return [r.product.id for r in recs]


POOL = ranked(card(1), card(2, "G"), card(3), card(4, "G"), card(5), card(6, "SG"))


def test_brand_sits_between_category_and_global():
    glob, brand = Rule("g", "pin", 3, slot=1), Rule("b", "pin", 5, slot=1, scope="brand:luma")
    cat = Rule("c", "pin", 1, slot=1, scope="category:1")
    assert winning_pins(SOURCE, [glob, brand], now=NOW) == {1: brand}
    assert winning_pins(SOURCE, [glob, brand, cat], now=NOW) == {1: cat}
    assert winning_pins(SOURCE, [brand, Rule("p", "pin", 3, slot=1, scope="product:100")], now=NOW)[1].id == "p"


def test_one_slot_per_style_and_a_sku_pin_is_not_placed_twice():
    style_a = Rule("a", "pin", 4, slot=1)  # style G: its best variant in the list is 2
    style_b = Rule("b", "pin", 2, slot=3)  # the same style again: loses, the style already holds a slot
    assert ids(apply_rules(SOURCE, POOL, [style_a, style_b], 5, now=NOW)) == [2, 1, 3, 4, 5]
    sku_then_style = [Rule("s", "pin", 2, slot=1, match="sku"), Rule("t", "pin", 4, slot=2)]
    assert ids(apply_rules(SOURCE, POOL, sku_then_style, 5, now=NOW)) == [2, 4, 1, 3, 5]


def test_hider_and_styles_from_the_catalog():
    hide = [Rule("h", "hide", 99)]  # a product outside the pool: its style is unknown without `styles`
    assert ids(apply_rules(SOURCE, POOL, hide, 6, now=NOW)) == [1, 2, 3, 4, 5, 6]
    assert ids(apply_rules(SOURCE, POOL, hide, 6, now=NOW, styles={99: "G"})) == [1, 3, 5, 6]
    hidden = hider(SOURCE, hide, now=NOW, styles={99: "G"})
    assert hidden(card(4, "G")) and hidden(card(99)) and not hidden(card(7, "H"))
    expired = [Rule("h", "hide", 99, ends="2026-11-01")]
    assert not hider(SOURCE, expired, now=NOW, styles={99: "G"})(card(4, "G"))


def test_windows_in_apply_rules_and_the_validation_of_new_fields():
    later = Rule("p", "pin", 5, slot=1, match="sku", starts="2026-12-01")
    assert ids(apply_rules(SOURCE, POOL, [later], 3, now=NOW)) == [1, 2, 3]
    assert ids(apply_rules(SOURCE, POOL, [later], 3, now=datetime(2026, 12, 1))) == [5, 1, 2]
    assert any("match must be one of sku, style" in e for e in Rule("x", "hide", 1, match="colour").errors())
    assert any("starts: not an ISO 8601" in e for e in Rule("x", "hide", 1, starts="soon").errors())
    assert any("must be after starts" in e for e in Rule("x", "hide", 1, starts="2026-12-02",
                                                          ends="2026-12-02T00:00:00+00:00").errors())
    with pytest.raises(ValidationError, match="rule 'x'"):
        apply_rules(SOURCE, POOL, [Rule("x", "hide", 1, ends="never")], 3, now=NOW)
