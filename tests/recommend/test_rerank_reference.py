"""The reranker scores whole factor columns and builds records only for what it shows; this checks it against
the plain reference it replaced: every candidate scored through the factor functions one by one, every step run
over the whole pool. Random pools (duplicates, the source among them, variants of one style, unknown prices),
strategies, boosts, hides, pins, collapse and MMR must give the same list: ids, ranks, scores, factors, reasons."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.recommend.boosts import Boost, apply_boosts
from engine.recommend.diversity import collapse, mmr
from engine.recommend.rerank import (
    FACTORS,
    FactorParams,
    Strategy,
    category_closeness,
    freshness,
    margin,
    popularity_scores,
    price_proximity,
    price_up,
    reason_text,
    reasons_for,
    rerank,
    resolve_lang,
    same_brand,
    similarity_value,
    stock_level,
)
from engine.recommend.rules import Rule, hider, merchandise, winning_pins
from engine.types import ProductCard, Recommendation

NOW = datetime(2026, 11, 26, 12, 0, 0)
CHAINS = [[11, 10, 1], [12, 10, 1], [21, 20, 1], [31, 30, 2], [], [11]]


def reference(source: ProductCard | None, candidates: list[Recommendation], strategy: Strategy, n: int, *,
              params: FactorParams, rules: list[Rule], boosts: list[Boost], collapse_k: int | None,
              mmr_lambda: float | None, vectors: dict[int, np.ndarray] | None, lang: str | None,
              fetch_product=None) -> list[Recommendation]:
    """rerank as it was written before the column scoring: a factor dict and a record per candidate."""
    src_id = source.id if source is not None else None
    pool, seen = [], set()
    for c in candidates:
        if c.product.id == src_id or c.product.id in seen:
            continue
        seen.add(c.product.id)
        pool.append(c)
    weights = [(f, float(w)) for f, w in strategy.weights.items()]
    total = sum(w for _, w in weights)
    pops = popularity_scores([r.product for r in pool], params.popularity_sales_weight)
    keyed = []
    for r, pop in zip(pool, pops):
        c = r.product
        f = {"similarity": similarity_value(r), "category": category_closeness(source, c),
             "price": price_proximity(source, c, params.price_scale),
             "price_up": price_up(source, c, params.price_up_band, params.price_scale),
             "stock": stock_level(c, params.stock_saturation),
             "freshness": freshness(c, NOW, params.freshness_half_life_days), "popularity": pop,
             "margin": margin(c), "same_brand": same_brand(source, c)}
        score = sum(w * f[k] for k, w in weights) / total
        keyed.append((similarity_value(r), replace(r, score=score, factors=f, reasons=[], rank=0)))
    keyed.sort(key=lambda t: (-t[1].score, -t[0], t[1].product.id))
    scored = apply_boosts(source, [r for _, r in keyed], boosts, NOW)
    by_id = {r.product.id: r for r in scored}
    known = {r.product.id: r.product.group_key for r in scored}
    pins = winning_pins(source, rules, now=NOW, styles=known)
    hidden = hider(source, rules, now=NOW, styles=known)
    ordered = [r for r in scored if not hidden(r.product)]
    if collapse_k is not None:
        ordered = collapse(ordered, collapse_k)
    if mmr_lambda is not None:
        head = mmr(ordered, vectors or {}, mmr_lambda, min(len(ordered), n + len(pins)))
        head_ids = {r.product.id for r in head}
        ordered = head + [r for r in ordered if r.product.id not in head_ids]
    out, pinned = merchandise(source, ordered, rules, n,
                              lambda pid: by_id.get(pid) or (fetch_product(pid) if fetch_product else None),
                              now=NOW, styles=known)
    for r in out:
        r_lang = resolve_lang(lang, r.product, source)
        if r.product.id in by_id:
            r.reasons = reasons_for(r.factors, strategy.weights, source, r.product, r_lang)
        if r.product.id in pinned:
            r.reasons = [reason_text("featured", r_lang)] + list(r.reasons)
    return out


_PRICES = st.one_of(st.floats(min_value=1, max_value=500), st.sampled_from([0.0, 100.0, math.nan, -3.0]))
_CARDS = st.builds(
    lambda pid, price, chain, in_stock, qty, cost, views, sales, age, brand, pop, group, lang: ProductCard(
        id=pid, sku=f"SKU-{pid}", title=f"Product {pid}", price=price, category_ids=list(chain),
        category_id=(chain or [None])[0], in_stock=in_stock, stock_qty=qty, cost=cost, views=views, sales=sales,
        created_at=None if age is None else NOW - timedelta(days=age), brand=brand, popularity=pop,
        group_key=group, language=lang),
    st.integers(1, 25), _PRICES, st.sampled_from(CHAINS), st.booleans(), st.one_of(st.none(), st.integers(-5, 40)),
    st.one_of(st.none(), st.floats(0, 400)), st.integers(0, 50), st.integers(0, 10),
    st.one_of(st.none(), st.floats(0, 200)), st.one_of(st.none(), st.sampled_from(["Luma", " luma ", "Other", ""])),
    st.one_of(st.none(), st.floats(0, 5)), st.one_of(st.none(), st.sampled_from(["g1", "g2", "g3"])),
    st.sampled_from([None, "en", "ru-RU", "tr"]))
_WEIGHTS = st.dictionaries(st.sampled_from(FACTORS), st.sampled_from([0.0, 0.05, 0.3, 0.45, 1.0, 2.5]),
                           min_size=1).filter(lambda w: sum(w.values()) > 0)
_BOOSTS = st.lists(st.builds(
    lambda i, when, strength: Boost(f"b{i}", when, strength), st.integers(0, 9),
    st.sampled_from([{"stock_below": 5}, {"brand_in": ["luma"]}, {"new_within_days": 30}, {"margin_above": 0.3}]),
    st.sampled_from([1.0, -1.0, 0.05, -0.2])), max_size=2, unique_by=lambda b: b.id)
_RULES = st.lists(st.one_of(
    st.builds(lambda i, pid, match: Rule(f"h{i}", "hide", pid, match=match), st.integers(0, 9), st.integers(1, 25),
              st.sampled_from(["sku", "style"])),
    st.builds(lambda i, pid, slot, match: Rule(f"p{i}", "pin", pid, slot=slot, match=match), st.integers(0, 9),
              st.integers(1, 25), st.integers(1, 6), st.sampled_from(["sku", "style"]))),
    max_size=3, unique_by=lambda r: r.id)


def _view(recs: list[Recommendation]) -> list[tuple]:
    return [(r.product.id, r.rank, r.score, r.similarity, r.vector, r.factors, r.reasons) for r in recs]


@settings(max_examples=300, deadline=None)
@given(source=st.one_of(st.none(), _CARDS), cands=st.lists(st.tuples(_CARDS, st.floats(-1.5, 1.5)), max_size=30),
       weights=_WEIGHTS, n=st.integers(1, 12), boosts=_BOOSTS, rules=_RULES,
       collapse_k=st.sampled_from([None, 1, 2]), mmr_lambda=st.sampled_from([None, 0.0, 0.6, 1.0]),
       lang=st.sampled_from([None, "ru"]), seed=st.integers(0, 2**16),
       params=st.builds(FactorParams, price_scale=st.floats(0.1, 5), price_up_band=st.floats(1.01, 4),
                        stock_saturation=st.integers(1, 50), freshness_half_life_days=st.floats(0.5, 90)))
def test_rerank_equals_the_per_candidate_reference(source, cands, weights, n, boosts, rules, collapse_k, mmr_lambda,
                                                   lang, seed, params):
    recs = [Recommendation(product=c, score=sim, vector="combined", similarity=sim) for c, sim in cands]
    rng = np.random.default_rng(seed)
    vectors = {c.id: rng.normal(size=4) for c, _ in cands} if mmr_lambda is not None else None
    strategy = Strategy("s", weights)
    outside = {pid: ProductCard(id=pid, sku=f"OUT-{pid}", title="pinned", price=10.0) for pid in range(1, 26)}
    fetch = outside.get  # a pin outside the pool is fetched (a card without factors)
    kw = {"params": params, "rules": rules, "boosts": boosts, "collapse_k": collapse_k, "mmr_lambda": mmr_lambda,
              "vectors": vectors, "lang": lang, "fetch_product": fetch}
    want = reference(source, recs, strategy, n, **kw)
    got = rerank(source, recs, strategy, n, now=NOW, **kw)
    assert _view(got) == _view(want)
    assert all(set(r.factors) >= set(FACTORS) for r in got if r.vector != "pinned")


_HIDES = st.lists(st.builds(lambda i, pid, match: Rule(f"h{i}", "hide", pid, match=match), st.integers(0, 9),
                            st.integers(1, 25), st.sampled_from(["sku", "style"])), max_size=3, unique_by=lambda r: r.id)


@settings(max_examples=300, deadline=None)
@given(source=st.one_of(st.none(), _CARDS), cands=st.lists(st.tuples(_CARDS, st.floats(-1.5, 1.5)), max_size=30),
       weights=_WEIGHTS, n=st.integers(1, 12), hides=_HIDES, collapse_k=st.sampled_from([None, 1, 2]),
       expired=st.booleans())
def test_rerank_without_pins_boosts_or_mmr_equals_the_reference(source, cands, weights, n, hides, collapse_k,
                                                                 expired):
    """The common case (only the shown results become records): hides, collapse, and boosts out of their
    window, which must change nothing."""
    recs = [Recommendation(product=c, score=sim, vector="combined", similarity=sim) for c, sim in cands]
    boosts = [Boost("old", {"stock_below": 50}, 1.0, ends="2026-01-01")] if expired else []
    kw = {"params": FactorParams(), "rules": hides, "boosts": boosts, "collapse_k": collapse_k, "mmr_lambda": None,
              "vectors": None, "lang": None}
    assert _view(rerank(source, recs, Strategy("s", weights), n, now=NOW, **kw)) == \
        _view(reference(source, recs, Strategy("s", weights), n, **kw))
