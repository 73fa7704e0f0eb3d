"""Factors, strategies, reasons and the rerank pipeline on hand-made cards with hand-computed answers."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ValidationError
from engine.recommend.rerank import (BUILTIN_STRATEGIES, FACTORS, FactorParams, Strategy, category_closeness, compute_factors, freshness, margin, popularity_scores, price_proximity, price_up, rerank, same_brand, similarity_value, stock_level)
from engine.recommend.rules import Rule
from engine.types import ProductCard, Recommendation

NOW = datetime(2026, 11, 26, 12, 0, 0)
# Category ids: 1 Men, 10 Men/Tops, 11 Men/Tops/Jackets, 12 Men/Tops/Tees, 20 Men/Bottoms, 21 Men/Bottoms/Pants,
# 2 Women, 30 Women/Tops, 31 Women/Tops/Jackets.
JACKETS, TEES, PANTS, W_JACKETS = [11, 10, 1], [12, 10, 1], [21, 20, 1], [31, 30, 2]


def card(pid: int, price: float = 100.0, cats: list[int] | None = None, **kw) -> ProductCard:
    return ProductCard(id=pid, sku=f"SKU-{pid}", title=f"Product {pid}", price=price,
                       category_ids=list(cats or []), category_id=(cats or [None])[0], **kw)


def rec(c: ProductCard, sim: float) -> Recommendation:
    return Recommendation(product=c, score=sim, vector="combined", similarity=sim)


# ---------------------------------------------------------------- factors

def test_category_closeness_levels():
    src = card(1, cats=JACKETS)
    assert category_closeness(src, card(2, cats=JACKETS)) == 1.0  # same leaf
    assert category_closeness(src, card(3, cats=TEES)) == 0.5  # sibling leaf under Men/Tops
    assert category_closeness(src, card(4, cats=PANTS)) == 0.25  # only Men in common
    assert category_closeness(src, card(5, cats=W_JACKETS)) == 0.0  # another top-level
    assert category_closeness(src, card(6)) == 0.0  # uncategorised
    assert category_closeness(None, card(7, cats=JACKETS)) == 0.0


def test_category_two_level_tree_counts_siblings_as_same_parent():
    # Gear/Bags = [41, 40] and Gear/Watches = [42, 40]: the parent is also the root.
    assert category_closeness(card(1, cats=[41, 40]), card(2, cats=[42, 40])) == 0.5


def test_price_proximity_is_symmetric_in_ratio():
    src = card(1, price=100)
    assert price_proximity(src, card(2, price=100)) == pytest.approx(1.0)
    assert price_proximity(src, card(3, price=200)) == pytest.approx(0.5)  # exp(-ln 2)
    assert price_proximity(src, card(4, price=50)) == pytest.approx(0.5)
    assert price_proximity(src, card(5, price=200), scale=0.5) == pytest.approx(0.25)  # exp(-2 ln 2)
    assert price_proximity(None, card(6, price=10)) == 0.5  # neutral without a source
    assert price_proximity(src, card(7, price=0)) == 0.5  # unknown price


def test_price_up_rewards_pricier_within_band():
    src = card(1, price=100)
    assert price_up(src, card(2, price=150)) == 1.0
    assert price_up(src, card(3, price=200)) == 1.0  # the band edge (×2) still counts fully
    assert price_up(src, card(4, price=400)) == pytest.approx(0.5)  # exp(-ln(4/2))
    assert price_up(src, card(5, price=100)) == pytest.approx(0.5)  # same price: neither way
    assert price_up(src, card(6, price=50)) == pytest.approx(0.25)  # 0.5·exp(-ln 2)
    assert price_up(src, card(7, price=150), band=1.2) == pytest.approx(math.exp(-math.log(1.5 / 1.2)))


def test_stock_level_saturates():
    assert stock_level(card(1, in_stock=False, stock_qty=50)) == 0.0
    assert stock_level(card(2, in_stock=True, stock_qty=0)) == 0.5
    assert stock_level(card(3, in_stock=True, stock_qty=10), saturation=20) == pytest.approx(0.75)
    assert stock_level(card(4, in_stock=True, stock_qty=40), saturation=20) == 1.0


def test_freshness_halves_every_half_life():
    assert freshness(card(1, created_at=NOW), NOW) == 1.0
    assert freshness(card(2, created_at=NOW - timedelta(days=30)), NOW, 30) == pytest.approx(0.5)
    assert freshness(card(3, created_at=NOW - timedelta(days=60)), NOW, 30) == pytest.approx(0.25)
    assert freshness(card(4, created_at=None), NOW) == 0.5  # undated: neutral
    assert freshness(card(5, created_at=NOW + timedelta(days=3)), NOW) == 1.0  # future dates are new, not > 1
    aware_now = NOW.replace(tzinfo=timezone.utc)
    assert freshness(card(6, created_at=NOW - timedelta(days=30)), aware_now, 30) == pytest.approx(0.5)


def test_popularity_from_views_and_sales_relative_to_list():
    # log1p(3) = ln 4; log1p(15) = ln 16 = 2·ln 4; 3 sales × 5 = 15 view-equivalents.
    cards = [card(1, views=3), card(2, views=15), card(3, sales=3), card(4)]
    assert popularity_scores(cards) == pytest.approx([0.5, 1.0, 1.0, 0.0])
    assert popularity_scores([card(5), card(6)]) == [0.0, 0.0]


def test_popularity_from_events_wins_over_counters():
    cards = [card(1, popularity=2.0), card(2, popularity=8.0), card(3, views=1000)]
    assert popularity_scores(cards) == pytest.approx([0.25, 1.0, 0.0])  # no events: not popular now


def test_margin_and_brand_and_similarity():
    assert margin(card(1, price=100, cost=60)) == pytest.approx(0.4)
    assert margin(card(2, price=100)) == 0.5
    assert margin(card(3, price=100, cost=130)) == 0.0
    assert margin(card(4, price=0, cost=10)) == 0.5
    src = card(9, brand="Luma")
    assert same_brand(src, card(5, brand=" luma")) == 1.0
    assert same_brand(src, card(6, brand="Other")) == 0.0
    assert same_brand(src, card(7)) == 0.0
    assert same_brand(None, card(8, brand="Luma")) == 0.0
    assert similarity_value(rec(card(1), 0.9)) == pytest.approx(0.9)
    assert similarity_value(rec(card(1), -0.2)) == 0.0
    assert similarity_value(rec(card(1), 1.3)) == 1.0


def test_all_factors_stay_in_unit_interval():
    src = card(1, price=10, cats=JACKETS, brand="Luma")
    cands = [rec(card(i, price=p, cats=c, in_stock=s, stock_qty=q, cost=co, views=v,
                      created_at=NOW - timedelta(days=d), brand=b), sim)
             for i, (p, c, s, q, co, v, d, b, sim) in enumerate([
                 (1e6, JACKETS, True, 10**6, 1.0, 10**9, 0, "Luma", 1.5),
                 (0.01, W_JACKETS, False, 0, 5.0, 0, 10**4, None, -1.0),
                 (10, [], True, 3, None, 7, 1, "X", 0.3)], start=2)]
    for f in compute_factors(src, cands, now=NOW):
        assert set(f) == set(FACTORS)
        assert all(0.0 <= v <= 1.0 for v in f.values()), f


# ---------------------------------------------------------------- strategies

def test_strategy_validation():
    with pytest.raises(ValidationError, match="negative"):
        Strategy("s", {"similarity": -0.1}).validate()
    with pytest.raises(ValidationError, match="finite"):
        Strategy("s", {"similarity": float("nan")}).validate()
    with pytest.raises(ValidationError, match="unknown factor 'colour'"):
        Strategy("s", {"colour": 1.0}).validate()
    with pytest.raises(ValidationError, match="at least one"):
        Strategy("s", {}).validate()
    with pytest.raises(ValidationError, match="positive"):
        Strategy("s", {"price": 0.0}).validate()
    with pytest.raises(ValidationError, match="finite"):
        Strategy("s", {"price": "1"}).validate()
    for s in BUILTIN_STRATEGIES.values():
        assert s.validate() is s
    assert BUILTIN_STRATEGIES["relevance"].weights == {"similarity": 1.0}


def test_rerank_refuses_invalid_strategy_and_n():
    cands = [rec(card(2), 0.5)]
    with pytest.raises(ValidationError):
        rerank(None, cands, Strategy("bad", {"similarity": -1.0}), 5)
    with pytest.raises(ValidationError):
        rerank(None, cands, BUILTIN_STRATEGIES["relevance"], 0)
    with pytest.raises(ValidationError, match="vectors"):
        rerank(None, cands, BUILTIN_STRATEGIES["relevance"], 5, mmr_lambda=0.5)
    with pytest.raises(ValidationError, match="price_scale"):
        rerank(None, cands, BUILTIN_STRATEGIES["relevance"], 5, params=FactorParams(price_scale=0))


def similar_items_catalog():
    """Source: a Luma-like jacket at 100. Candidates (all in stock with 20 units unless said otherwise):
    X  a tee (sibling leaf), the most similar (0.90), same price, 300 days old, never viewed;
    U  a jacket (same leaf), 0.80, pricier at 140 (an upsell), 300 days old, 3 views;
    O  a jacket (same leaf), 0.85, same price, OUT OF STOCK, 300 days old;
    T  pants (only Men in common), 0.60, same price, new today, 15 views (the most popular)."""
    old = NOW - timedelta(days=300)
    src = card(1, price=100, cats=JACKETS, brand="Luma", language="en")
    x = card(2, price=100, cats=TEES, stock_qty=20, created_at=old)
    u = card(3, price=140, cats=JACKETS, stock_qty=20, created_at=old, views=3)
    o = card(4, price=100, cats=JACKETS, in_stock=False, created_at=old)
    t = card(5, price=100, cats=PANTS, stock_qty=20, created_at=NOW, views=15)
    return src, [rec(x, 0.90), rec(u, 0.80), rec(o, 0.85), rec(t, 0.60)]


def ids(recs):
    return [r.product.id for r in recs]


def test_relevance_is_the_vector_order():
    src, cands = similar_items_catalog()
    out = rerank(src, cands, BUILTIN_STRATEGIES["relevance"], 4, now=NOW)
    assert ids(out) == [2, 4, 3, 5]  # 0.90, 0.85, 0.80, 0.60
    assert [r.score for r in out] == pytest.approx([0.90, 0.85, 0.80, 0.60])


def test_balanced_lifts_the_same_leaf_upsell_over_a_nearer_other_leaf():
    src, cands = similar_items_catalog()
    out = rerank(src, cands, BUILTIN_STRATEGIES["balanced"], 4, now=NOW)
    # balanced = .45 sim + .3 category + .15 price_up + .05 stock + .05 popularity. price_up: U pricier within
    # the 2x band → 1, same price → 0.5; stock: 20 units → 1, out of stock → 0; popularity: U ln4/ln16 = 0.5,
    # T 1, others 0. Category: same leaf 1, sibling leaf .5, only the top level .25.
    x = .45 * .90 + .3 * .5 + .15 * .5 + .05 * 1 + .05 * 0
    u = .45 * .80 + .3 * 1 + .15 * 1 + .05 * 1 + .05 * .5
    o = .45 * .85 + .3 * 1 + .15 * .5 + .05 * 0 + .05 * 0
    t = .45 * .60 + .3 * .25 + .15 * .5 + .05 * 1 + .05 * 1
    assert ids(out) == [3, 4, 2, 5]  # u 0.885 > o 0.758 > x 0.680 > t 0.520
    assert [r.score for r in out] == pytest.approx([u, o, x, t])
    assert [r.rank for r in out] == [1, 2, 3, 4]
    assert out[0].factors["category"] == 1.0 and out[0].factors["price"] == pytest.approx(100 / 140)
    assert out[0].similarity == pytest.approx(0.80)  # the raw cosine is kept next to the new score


def test_trending_puts_the_popular_new_item_first():
    src, cands = similar_items_catalog()
    out = rerank(src, cands, BUILTIN_STRATEGIES["trending"], 4, now=NOW)
    # trending = .6 popularity + .25 similarity + .15 freshness
    # T .6 + .15 + .15 = .9; U .3 + .2 + tiny; X .225 + tiny; O .2125 + tiny
    assert ids(out) == [5, 3, 2, 4]
    assert out[0].score == pytest.approx(0.9)


def test_upsell_strategy_prefers_pricier_same_kind():
    src, cands = similar_items_catalog()
    out = rerank(src, cands, BUILTIN_STRATEGIES["upsell"], 4, now=NOW)
    # upsell = .4 sim + .3 category + .3 price_up; same price → price_up .5
    # U .32+.3+.3=.92; O .34+.3+.15=.79; X .36+.15+.15=.66; T .24+.075+.15=.465
    assert ids(out) == [3, 4, 2, 5]
    assert [r.score for r in out] == pytest.approx([0.92, 0.79, 0.66, 0.465])


def test_user_defined_strategy_and_weights_need_not_sum_to_one():
    src = card(1, price=100)
    cands = [rec(card(2, price=100, cost=90), 0.9), rec(card(3, price=100, cost=40), 0.5)]
    out = rerank(src, cands, Strategy("profit", {"margin": 3.0, "similarity": 1.0}), 2, now=NOW)
    # item 3: (3·0.6 + 0.5)/4 = 0.575; item 2: (3·0.1 + 0.9)/4 = 0.3
    assert ids(out) == [3, 2]
    assert [r.score for r in out] == pytest.approx([0.575, 0.3])
    assert out[0].reasons == []  # margin is never told to shoppers; 0.5 similarity is not "very similar"


def test_query_without_source_ranks_on_candidate_factors_only():
    a = card(2, price=10, cats=JACKETS, stock_qty=0, in_stock=False)
    b = card(3, price=999, cats=PANTS, stock_qty=20)
    out = rerank(None, [rec(a, 0.9), rec(b, 0.8)], BUILTIN_STRATEGIES["balanced"], 2, now=NOW)
    # category 0 and price 0.5 for both; a: .45 + .05 + 0 stock; b: .40 + .05 + .1 stock; freshness .5 each
    assert ids(out) == [3, 2]
    assert out[0].factors["category"] == 0.0 and out[0].factors["price"] == 0.5


def test_empty_candidates_give_empty_list():
    assert rerank(card(1), [], BUILTIN_STRATEGIES["balanced"], 5, now=NOW) == []


def test_ties_break_by_similarity_then_id():
    cands = [rec(card(9), 0.5), rec(card(4), 0.5), rec(card(7), 0.6)]
    out = rerank(None, cands, Strategy("stock", {"stock": 1.0}), 3, now=NOW)
    assert ids(out) == [7, 4, 9]


# ---------------------------------------------------------------- reasons

def test_reasons_in_english_russian_and_turkish():
    src, cands = similar_items_catalog()
    out = {r.product.id: r for r in rerank(src, cands, BUILTIN_STRATEGIES["balanced"], 4, now=NOW)}
    # U: similarity .8 (≥ .8), same leaf, pricier within the upsell band, in stock; popularity .5 not "popular".
    assert out[3].reasons == ["very similar style", "same category", "pricier alternative", "in stock"]
    ru = {r.product.id: r for r in rerank(src, cands, BUILTIN_STRATEGIES["balanced"], 4, lang="ru", now=NOW)}
    assert ru[3].reasons == ["очень похожий стиль", "та же категория", "более дорогая альтернатива", "в наличии"]
    # T under a strategy that weighs closeness in price: price .1·1 and stock .1·1 tie and keep the factor
    # order (price before stock); freshness .05·1 and popularity .05·1 likewise; similarity .6 and category
    # .25 give no reason.
    mix = Strategy("mix", {"similarity": .5, "category": .2, "price": .1, "stock": .1, "freshness": .05,
                           "popularity": .05})
    ru = {r.product.id: r for r in rerank(src, cands, mix, 4, lang="ru", now=NOW)}
    assert ru[5].reasons == ["близкая цена", "в наличии", "новинка", "популярно сейчас"]
    tr = rerank(src, cands, BUILTIN_STRATEGIES["trending"], 1, lang="tr-TR", now=NOW)
    assert tr[0].reasons == ["şu an popüler", "yeni"]
    up = rerank(src, cands, BUILTIN_STRATEGIES["upsell"], 1, now=NOW)
    assert up[0].reasons == ["very similar style", "same category", "pricier alternative"]


def test_reason_language_follows_the_catalog_unless_asked():
    src = card(1, price=100, brand="Luma", language="ru")
    c = card(2, price=105, brand="Luma", language="ru")
    s = Strategy("b", {"same_brand": 1.0, "price": 1.0})
    assert rerank(src, [rec(c, 0.3)], s, 1, now=NOW)[0].reasons == ["тот же бренд", "близкая цена"]
    assert rerank(src, [rec(c, 0.3)], s, 1, lang="en", now=NOW)[0].reasons == ["same brand", "close in price"]
    assert rerank(src, [rec(c, 0.3)], s, 1, lang="xx", now=NOW)[0].reasons == ["same brand", "close in price"]


# ---------------------------------------------------------------- pipeline

def test_source_duplicates_and_inputs_are_respected():
    src, cands = similar_items_catalog()
    before = [(r.score, r.rank, list(r.reasons)) for r in cands]
    with_src = [rec(src, 1.0)] + cands + [cands[0]]
    out = rerank(src, with_src, BUILTIN_STRATEGIES["balanced"], 10, now=NOW)
    assert ids(out) == [3, 4, 2, 5]  # source gone, the repeated X counted once, never more than given
    assert [(r.score, r.rank, list(r.reasons)) for r in cands] == before  # inputs untouched (they may be cached)


def test_rules_inside_rerank_pin_and_hide():
    src, cands = similar_items_catalog()
    rules = [Rule("h", "hide", 3), Rule("p", "pin", 5, slot=1)]
    out = rerank(src, cands, BUILTIN_STRATEGIES["balanced"], 3, rules=rules, now=NOW)
    # balanced order was U, O, X, T; U hidden; T pinned first, the rest shift down.
    assert ids(out) == [5, 4, 2]
    assert out[0].reasons[0] == "featured"
    assert [r.rank for r in out] == [1, 2, 3]


def test_pins_outside_candidates_need_a_fetcher():
    src, cands = similar_items_catalog()
    extra = card(77, price=100)
    rules = [Rule("p", "pin", 77, slot=2)]
    assert 77 not in ids(rerank(src, cands, BUILTIN_STRATEGIES["relevance"], 3, rules=rules, now=NOW))
    out = rerank(src, cands, BUILTIN_STRATEGIES["relevance"], 3, rules=rules, now=NOW,
                 fetch_product=lambda pid: extra if pid == 77 else None)
    assert ids(out) == [2, 77, 4]


def test_collapse_in_rerank_keeps_best_variant():
    src = card(1, price=100, cats=JACKETS)
    a1 = card(2, cats=JACKETS, group_key="MJ01", colour="black")
    a2 = card(3, cats=JACKETS, group_key="MJ01", colour="blue")
    b = card(4, cats=JACKETS, group_key="MJ02")
    cands = [rec(a1, 0.9), rec(a2, 0.88), rec(b, 0.7)]
    assert ids(rerank(src, cands, BUILTIN_STRATEGIES["relevance"], 3, collapse_k=1, now=NOW)) == [2, 4]
    assert ids(rerank(src, cands, BUILTIN_STRATEGIES["relevance"], 3, collapse_k=2, now=NOW)) == [2, 3, 4]


def test_mmr_in_rerank_spreads_the_list():
    # 3 is a near copy of 2 (cos .99); 4 points elsewhere. At λ=.5 after 2: 3 → .5·.88 − .5·.99 < 0,
    # 4 → .5·.7 − 0 = .35, so 4 comes second.
    cands = [rec(card(2), 0.9), rec(card(3), 0.88), rec(card(4), 0.7)]
    vecs = {2: np.array([1.0, 0.0]), 3: np.array([0.99, math.sqrt(1 - 0.99 ** 2)]), 4: np.array([0.0, 1.0])}
    rel = BUILTIN_STRATEGIES["relevance"]
    assert ids(rerank(None, cands, rel, 2, vectors=vecs, mmr_lambda=0.5, now=NOW)) == [2, 4]
    assert ids(rerank(None, cands, rel, 2, vectors=vecs, mmr_lambda=1.0, now=NOW)) == [2, 3]


def test_pinned_candidate_survives_collapse():
    a1 = card(2, group_key="G", colour="black")
    a2 = card(3, group_key="G", colour="blue")
    cands = [rec(a1, 0.9), rec(a2, 0.8), rec(card(4), 0.7)]
    out = rerank(None, cands, BUILTIN_STRATEGIES["relevance"], 3, collapse_k=1,
                 rules=[Rule("p", "pin", 3, slot=1, match="sku")], now=NOW)
    assert ids(out) == [3, 2, 4]
    # Per style, the pin stands for the style: its best-ranked variant takes the slot, once.
    out = rerank(None, cands, BUILTIN_STRATEGIES["relevance"], 3, collapse_k=1,
                 rules=[Rule("p", "pin", 3, slot=2)], now=NOW)
    assert ids(out) == [4, 2]


# ---------------------------------------------------------------- the batched factors equal the factor functions

_PRICES = st.one_of(st.floats(min_value=-10, max_value=1e6), st.sampled_from([0.0, math.nan, math.inf]))
_CARDS = st.builds(
    lambda pid, price, cats, in_stock, qty, cost, views, sales, age, brand, pop: card(
        pid, price=price, cats=cats, in_stock=in_stock, stock_qty=qty, cost=cost, views=views, sales=sales,
        created_at=None if age is None else NOW - timedelta(days=age), brand=brand, popularity=pop),
    st.integers(1, 10**6), _PRICES, st.sampled_from([JACKETS, TEES, PANTS, W_JACKETS, [], [11]]), st.booleans(),
    st.one_of(st.none(), st.integers(-5, 100)), st.one_of(st.none(), st.floats(0, 1e4)), st.integers(0, 10**6),
    st.integers(0, 1000), st.one_of(st.none(), st.floats(0, 3000)),
    st.one_of(st.none(), st.sampled_from(["Luma", " luma ", "Other", ""])),
    st.one_of(st.none(), st.floats(0, 50)))


@settings(max_examples=150, deadline=None)
@given(source=st.one_of(st.none(), _CARDS), cands=st.lists(st.tuples(_CARDS, st.floats(-2, 2)), min_size=1,
                                                            max_size=8),
       params=st.builds(FactorParams, price_scale=st.floats(0.1, 5), price_up_band=st.floats(1.01, 4),
                        stock_saturation=st.integers(1, 50), freshness_half_life_days=st.floats(0.5, 90)))
def test_compute_factors_equals_the_factor_functions(source, cands, params):
    """compute_factors works out the source's part once for speed: it must give the factor functions' values."""
    recs = [rec(c, sim) for c, sim in cands]
    pops = popularity_scores([r.product for r in recs], params.popularity_sales_weight)
    for r, pop, got in zip(recs, pops, compute_factors(source, recs, params, NOW)):
        c = r.product
        want = {"similarity": similarity_value(r), "category": category_closeness(source, c),
                "price": price_proximity(source, c, params.price_scale),
                "price_up": price_up(source, c, params.price_up_band, params.price_scale),
                "stock": stock_level(c, params.stock_saturation),
                "freshness": freshness(c, NOW, params.freshness_half_life_days), "popularity": pop,
                "margin": margin(c), "same_brand": same_brand(source, c)}
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
