"""Boost and bury by condition, on real ranked lists: the small catalog of merch_world (SQLite, USE text
vectors in embedded Qdrant) ranked by the Recommender facade, once without and once with a boost. Each
condition moves exactly the products the fixture data says it should, and nothing else; then the pieces
(scope, window, strength, the factors a reader sees) and the boost records themselves."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import ValidationError
from engine.recommend.boosts import FACTOR, Boost, apply_boosts, condition_holds
from engine.recommend.config import DiversityConfig
from engine.recommend.rerank import BUILTIN_STRATEGIES, rerank
from engine.recommend.rules import Rule
from engine.types import ProductCard, Recommendation
from merch_world import MerchWorld, merch_world, plain_config, skus


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> MerchWorld:
    return merch_world(tmp_path_factory)


def boosted(world: MerchWorld, *boosts: Boost, sku: str = "SRC") -> tuple[list[str], list[Recommendation]]:
    """(the organic list's skus, the list ranked with the boosts)."""
    return skus(world.similar(plain_config(), sku)), world.similar(plain_config(boosts=list(boosts)), sku)


def moved(organic: list[str], matching: set[str], strength: float) -> list[str]:
    """The order a ±1 boost must give: the matching products ahead of (or behind) the others, each group in
    its organic order (the re-sort is stable)."""
    hit = [s for s in organic if s in matching]
    rest = [s for s in organic if s not in matching]
    return hit + rest if strength > 0 else rest + hit


# One ranking test per condition. The matching products are written out from the fixture's table, not
# computed, so a condition that reads the wrong field fails.
@pytest.mark.parametrize("when, strength, matching", [
    ({"stock_below": 5}, 1.0, {"TEE-BLU", "TANK-1", "CROP-1", "BOXY-1"}),  # 3, 1, 2 and 4 units
    ({"margin_above": 0.6}, 1.0, {"POLO-1", "HENLEY-1", "POCKET-1"}),  # TANK-1 is exactly 0.6; VNECK-1 has no cost
    ({"new_within_days": 7}, 1.0, {"SLUB-1", "TANK-1", "LONG-1"}),  # 1, 2 and 5 days old; RAGLAN-1 is 30
    ({"brand_in": ["acme"]}, -1.0, {"TEE-RED", "TEE-BLU", "TEE-GRN", "CROP-1", "BOXY-1"}),  # CROP-1 says ACME
    ({"colour_in": ["Grey", "GREEN"]}, 1.0, {"LONG-1", "RAGLAN-1", "POCKET-1", "TEE-GRN"}),  # stored as gray
    ({"stock_below": 5}, -1.0, {"TEE-BLU", "TANK-1", "CROP-1", "BOXY-1"}),  # bury
], ids=["stock_below", "margin_above", "new_within_days", "brand_in-bury", "colour_in", "stock_below-bury"])
def test_each_condition_moves_exactly_its_products_in_a_ranked_list(world, when, strength, matching):
    organic, out = boosted(world, Boost("b", when, strength))
    assert set(organic) >= matching and len(organic) > len(matching)  # both groups are in the list
    assert organic != moved(organic, matching, strength)  # the boost has something to do
    assert skus(out) == moved(organic, matching, strength)
    for rec in out:
        if rec.product.sku in matching:
            assert rec.factors[FACTOR] == strength and rec.factors["boost:b"] == strength
        else:
            assert FACTOR not in rec.factors and "boost:b" not in rec.factors


def test_a_small_strength_only_breaks_near_ties(world):
    organic = world.similar(plain_config())
    green = {"POCKET-1", "TEE-GRN"}
    out = world.similar(plain_config(boosts=[Boost("nudge", {"colour_in": ["green"]}, 0.01)]))
    scores = {r.product.sku: r.score for r in organic}  # in organic order: the sort below is stable too
    expected = sorted(scores, key=lambda s: -(scores[s] + (0.01 if s in green else 0.0)))
    assert skus(out) == expected and skus(out) != skus(organic)
    assert skus(out)[0] == skus(organic)[0]  # the nearest product is far enough ahead to stay first


def test_boosts_add_up_and_scores_show_it(world):
    organic = {r.product.sku: r.score for r in world.similar(plain_config())}
    out = world.similar(plain_config(boosts=[Boost("low", {"stock_below": 5}, 0.5),
                                             Boost("acme", {"brand_in": ["Acme"]}, 0.25)]))
    got = {r.product.sku: r for r in out}
    assert got["TEE-BLU"].factors == got["TEE-BLU"].factors | {FACTOR: 0.75, "boost:low": 0.5, "boost:acme": 0.25}
    assert got["TEE-BLU"].score == pytest.approx(organic["TEE-BLU"] + 0.75)
    assert got["TANK-1"].factors[FACTOR] == 0.5 and "boost:acme" not in got["TANK-1"].factors
    assert skus(out)[:2] == ["CROP-1", "TEE-BLU"]  # both conditions (CROP-1 was the nearer of the two)


def test_a_boost_acts_only_inside_its_scope(world):
    for_acme = Boost("b", {"stock_below": 5}, 1.0, scope="brand: ACME ")
    organic, out = boosted(world, for_acme)  # the source SRC is an Acme tee
    assert skus(out) == moved(organic, {"TEE-BLU", "TANK-1", "CROP-1", "BOXY-1"}, 1.0)
    organic, out = boosted(world, for_acme, sku="POLO-1")  # a Zeta source: the boost sleeps
    assert skus(out) == organic
    leaf = world.card("SRC").category_id
    organic, out = boosted(world, Boost("c", {"new_within_days": 7}, 1.0, scope=f"category:{leaf}"))
    assert skus(out) == moved(organic, {"SLUB-1", "TANK-1", "LONG-1"}, 1.0)
    organic, out = boosted(world, Boost("c", {"new_within_days": 7}, 1.0, scope=f"product:{world.id('POLO-1')}"))
    assert skus(out) == organic
    text = world.recommender(plain_config()).search_by_text("cotton tee", n=20)
    scoped = world.recommender(plain_config(boosts=[for_acme])).search_by_text("cotton tee", n=20)
    assert skus(scoped) == skus(text)  # a text query has no source: scoped boosts sleep


def test_a_boost_acts_only_inside_its_window(world):
    now = datetime.now(timezone.utc)
    low = {"TEE-BLU", "TANK-1", "CROP-1", "BOXY-1"}

    def ranked(starts, ends):
        organic, out = boosted(world, Boost("w", {"stock_below": 5}, 1.0, starts=starts, ends=ends))
        return skus(out), organic

    out, organic = ranked((now + timedelta(days=1)).isoformat(), None)  # not yet
    assert out == organic
    out, organic = ranked((now - timedelta(days=1)).isoformat(), (now + timedelta(days=1)).isoformat())
    assert out == moved(organic, low, 1.0)
    out, organic = ranked(None, (now - timedelta(hours=1)).isoformat())  # over
    assert out == organic


def test_a_boosted_variant_is_the_one_kept_when_styles_collapse(world):
    # Boosts act before the collapse: with one variant per style, the boosted colour is the one kept.
    one_per_style = DiversityConfig(mmr_lambda=None, collapse_k=1)
    organic = skus(world.similar(plain_config(diversity=one_per_style)))
    assert "TEE-BLU" in organic and "TEE-GRN" not in organic
    green = plain_config(diversity=one_per_style, boosts=[Boost("g", {"colour_in": ["green"]}, 1.0)])
    out = skus(world.similar(green))
    assert "TEE-GRN" in out and "TEE-BLU" not in out and "TEE-RED" not in out


# ---------------------------------------------------------------- the records themselves

def card(pid: int, **kw) -> ProductCard:
    return ProductCard(id=pid, sku=f"P{pid}", title=f"P{pid}", price=kw.pop("price", 10.0), **kw)


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def test_conditions_read_the_card_fields_they_name():
    assert condition_holds("stock_below", 5, card(1, stock_qty=4), NOW)
    assert not condition_holds("stock_below", 5, card(1, stock_qty=5), NOW)
    assert condition_holds("margin_above", 0.5, card(1, price=10.0, cost=4.0), NOW)
    assert not condition_holds("margin_above", 0.5, card(1, price=10.0, cost=5.0), NOW)  # above, not at
    assert not condition_holds("margin_above", 0.0, card(1, price=10.0), NOW)  # cost unknown
    assert condition_holds("new_within_days", 3, card(1, created_at=datetime(2026, 11, 23, 13, 0)), NOW)
    assert not condition_holds("new_within_days", 3, card(1, created_at=datetime(2026, 11, 23, 11, 0)), NOW)
    assert not condition_holds("new_within_days", 3, card(1), NOW)  # undated
    assert condition_holds("brand_in", [" luma "], card(1, brand="LUMA"), NOW)
    assert not condition_holds("brand_in", ["luma"], card(1), NOW)
    assert condition_holds("colour_in", ["Grey"], card(1, colour="gray"), NOW)
    assert not condition_holds("colour_in", ["grey"], card(1, colour="blue"), NOW)


def test_apply_boosts_leaves_untouched_results_and_its_inputs_alone():
    pool = [Recommendation(card(i, stock_qty=i), score=1.0 - i / 10, vector="text") for i in (1, 2, 3)]
    out = apply_boosts(None, pool, [Boost("b", {"stock_below": 3}, -1.0)], NOW)
    assert [r.product.id for r in out] == [3, 1, 2]
    assert out[0] is pool[2] and pool[0].score == 0.9 and pool[0].factors == {}
    assert apply_boosts(None, pool, [], NOW) == pool


def test_rerank_applies_boosts_before_hides_and_pins():
    cands = [Recommendation(card(i, stock_qty=i), score=0.0, vector="text", similarity=1.0 - i / 10)
             for i in (1, 2, 3, 4)]
    rel = BUILTIN_STRATEGIES["relevance"]
    out = rerank(None, cands, rel, 4, boosts=[Boost("b", {"stock_below": 5}, -1.0),
                                             Boost("c", {"brand_in": ["x"]}, 1.0)], now=NOW)
    assert [r.product.id for r in out] == [1, 2, 3, 4]  # all buried alike: the order holds
    out = rerank(None, cands, rel, 3, boosts=[Boost("b", {"stock_below": 3}, -1.0)],
                 rules=[Rule("p", "pin", 2, slot=1, match="sku"), Rule("h", "hide", 3, match="sku")], now=NOW)
    assert [r.product.id for r in out] == [2, 4, 1]  # buried 1 and 2; 2 pinned back to the top; 3 hidden


@pytest.mark.parametrize("boost, problem", [
    (Boost("b", {}, 1.0), "exactly one condition"),
    (Boost("b", {"stock_below": 2, "brand_in": ["x"]}, 1.0), "exactly one condition"),
    (Boost("b", {"price_below": 2}, 1.0), "unknown condition 'price_below'"),
    (Boost("b", {"stock_below": 0}, 1.0), "stock_below must be a whole number ≥ 1"),
    (Boost("b", {"margin_above": 1.2}, 1.0), "margin_above must be a number in [0, 1]"),
    (Boost("b", {"colour_in": []}, 1.0), "colour_in must be a non-empty list"),
    (Boost("b", {"stock_below": 2}, 0.0), "strength must be a non-zero number in [-1, 1]"),
    (Boost("b", {"stock_below": 2}, -1.5), "strength must be a non-zero number in [-1, 1]"),
    (Boost("b", {"stock_below": 2}, 1.0, scope="shelf:1"), "scope must be"),
    (Boost("b", {"stock_below": 2}, 1.0, starts="2026-12-02", ends="2026-12-01"), "must be after starts"),
    (Boost("", {"stock_below": 2}, 1.0), "boost id must be a non-empty string"),
])
def test_invalid_boosts_say_what_is_wrong(boost, problem):
    assert any(problem in e for e in boost.errors()), boost.errors()
    with pytest.raises(ValidationError, match="boost"):
        apply_boosts(None, [], [boost], NOW)


def test_boost_status_and_description():
    b = Boost("b", {"stock_below": 5}, -0.5, starts="2026-12-01T09:00:00", ends="2026-12-24T18:00:00+00:00")
    assert b.status(NOW) == (False, "starts 2026-12-01 09:00 UTC")
    assert b.status(datetime(2026, 12, 2)) == (True, "active until 2026-12-24 18:00 UTC")
    assert b.status(datetime(2026, 12, 24, 18, 0)) == (False, "ended 2026-12-24 18:00 UTC")
    assert b.describe() == "bury: stock below 5"
    assert Boost("c", {"brand_in": ["Luma", "Zeta"]}, 1.0).describe() == "boost: brand in Luma, Zeta"
