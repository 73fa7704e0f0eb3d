"""Dashboard metrics on a hand-made event set, with expected values worked out here from that set."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from statistics import NormalDist

import pandas as pd
import pytest

from engine.insights import analytics as A
from engine.insights import popularity as P
from engine.insights.analytics import Scope
from engine.catalog.db import Database
from engine.catalog.models import Category, Product, ProductCategory, VectorSync
from engine.errors import NotFound, ValidationError
from engine.insights.events import Event, EventLog

Z = NormalDist().inv_cdf(0.975)
D1, D2 = datetime(2024, 5, 1), datetime(2024, 5, 2)


def wilson_ref(x: int, n: int) -> tuple[float, float]:
    """Wilson score interval, straight from its textbook form."""
    p = x / n
    centre = (x + Z ** 2 / 2) / (n + Z ** 2)
    half = (Z * math.sqrt(n) / (n + Z ** 2)) * math.sqrt(p * (1 - p) + Z ** 2 / (4 * n))
    return centre - half, centre + half


def ev(kind, session, product, algorithm, strategy, position, when, **kw) -> Event:
    return Event(kind, session, product, ts=when, algorithm=algorithm, strategy=strategy, position=position, **kw)


@pytest.fixture()
def db(tmp_path) -> Database:
    """vector_text/similar on day 1: sessions s1, s2 see products 100..104 in slots 0..4;
    s1 clicks slots 0 and 1, s2 clicks slot 0; s1 carts and buys product 100.
    trending/similar on day 2: s3, s4 see 200..203 in slots 0..3; s3 clicks slot 2 and carts it.
    vector_text/diverse on day 2: s5 sees 300..304; clicks slots 0 and 3, carts both, buys 300.
    Plus one simulated impression (trending, day 2) and one click from no list (algorithm NULL, day 2)."""
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    events = []
    vt, tr, vd = ("vector_text", "similar"), ("trending", "similar"), ("vector_text", "diverse")
    for s in ("s1", "s2"):
        events += [ev("impression", s, 100 + p, *vt, p, D1 + timedelta(hours=9)) for p in range(5)]
    t = D1 + timedelta(hours=10)
    events += [ev("click", "s1", 100, *vt, 0, t), ev("click", "s1", 101, *vt, 1, t), ev("click", "s2", 100, *vt, 0, t),
               ev("cart_add", "s1", 100, *vt, 0, t), ev("purchase", "s1", 100, *vt, 0, t)]
    for s in ("s3", "s4"):
        events += [ev("impression", s, 200 + p, *tr, p, D2 + timedelta(hours=9)) for p in range(4)]
    t = D2 + timedelta(hours=10)
    events += [ev("click", "s3", 202, *tr, 2, t), ev("cart_add", "s3", 202, *tr, 2, t)]
    events += [ev("impression", "s5", 300 + p, *vd, p, D2 + timedelta(hours=9)) for p in range(5)]
    events += [ev("click", "s5", 300, *vd, 0, t), ev("click", "s5", 303, *vd, 3, t),
               ev("cart_add", "s5", 300, *vd, 0, t), ev("cart_add", "s5", 303, *vd, 3, t),
               ev("purchase", "s5", 300, *vd, 0, t)]
    events.append(ev("impression", "sim", 200, "trending", "similar", 0, t, simulated=True))
    events.append(Event("click", "s6", 999, ts=t))
    EventLog(db).log_many(events)
    return db


def row(df, **key):
    sel = df
    for k, v in key.items():
        sel = sel[sel[k].isna()] if v is None else sel[sel[k] == v]
    assert len(sel) == 1, key
    return sel.iloc[0]


def test_per_algorithm_counts_rates_and_wilson_intervals(db):
    df = A.metrics(db, "algorithm")
    vt = row(df, algorithm="vector_text")
    # day 1: 2 sessions x 5 slots; day 2: 5 slots
    imps, clicks, carts, buys = 2 * 5 + 5, 3 + 2, 1 + 2, 1 + 1
    assert (vt.impressions, vt.clicks, vt.carts, vt.purchases) == (imps, clicks, carts, buys)
    assert vt.ctr == pytest.approx(clicks / imps)
    assert (vt.ctr_low, vt.ctr_high) == pytest.approx(wilson_ref(clicks, imps))
    assert vt.cart_rate == pytest.approx(carts / clicks)
    assert (vt.cart_rate_low, vt.cart_rate_high) == pytest.approx(wilson_ref(carts, clicks))
    assert vt.conversion_click == pytest.approx(buys / clicks)
    assert (vt.conversion_click_low, vt.conversion_click_high) == pytest.approx(wilson_ref(buys, clicks))
    assert vt.conversion_impression == pytest.approx(buys / imps)
    assert (vt.conversion_impression_low, vt.conversion_impression_high) == pytest.approx(wilson_ref(buys, imps))

    tr = row(df, algorithm="trending")
    assert (tr.impressions, tr.clicks, tr.carts, tr.purchases) == (2 * 4 + 1, 1, 1, 0)  # + the simulated one
    assert tr.conversion_click == 0 and tr.conversion_click_low == 0
    assert tr.conversion_click_high == pytest.approx(wilson_ref(0, 1)[1])
    assert tr.cart_rate_high == 1.0  # 1 of 1

    unattributed = row(df, algorithm=None)
    assert (unattributed.impressions, unattributed.clicks) == (0, 1)
    assert math.isnan(unattributed.ctr) and math.isnan(unattributed.ctr_low)


def test_per_strategy_and_per_algorithm_strategy(db):
    by_strategy = A.metrics(db, "strategy", Scope(simulated=False))
    sim = row(by_strategy, strategy="similar")
    assert (sim.impressions, sim.clicks, sim.carts, sim.purchases) == (10 + 8, 3 + 1, 1 + 1, 1)
    div = row(by_strategy, strategy="diverse")
    assert (div.impressions, div.clicks, div.ctr) == (5, 2, pytest.approx(2 / 5))
    both = A.metrics(db, ["algorithm", "strategy"], Scope(simulated=False))
    assert row(both, algorithm="vector_text", strategy="similar").clicks == 3
    assert row(both, algorithm="vector_text", strategy="diverse").purchases == 1
    with pytest.raises(ValidationError, match="cannot group by"):
        A.metrics(db, "colour")


def test_date_and_algorithm_filters(db):
    day1 = A.metrics(db, "algorithm", Scope(start=date(2024, 5, 1), end=date(2024, 5, 1)))
    assert list(day1.algorithm) == ["vector_text"]
    assert row(day1, algorithm="vector_text").impressions == 10
    # datetimes are instants, both ends included: only the 09:00 impressions of day 2
    morning = A.metrics(db, "algorithm", Scope(start=D2 + timedelta(hours=9), end=D2 + timedelta(hours=9)))
    assert dict(zip(morning.algorithm, morning.impressions)) == {"trending": 8, "vector_text": 5}
    only = A.metrics(db, "strategy", Scope(algorithms=["trending"], simulated=False))
    assert list(only.strategy) == ["similar"] and only.impressions.iloc[0] == 8
    with pytest.raises(ValidationError, match="inverted"):
        A.metrics(db, scope=Scope(start=date(2024, 5, 2), end=date(2024, 5, 1)))
    with pytest.raises(ValidationError, match="inverted"):
        A.funnel(db, Scope(start=D2, end=D1))


def test_ctr_by_position(db):
    df = A.ctr_by_position(db, Scope(simulated=False))
    per = {int(r.position): (int(r.impressions), int(r.clicks)) for r in df.itertuples()}
    # slot 0: 2 (day 1) + 2 (trending) + 1 (diverse) shown; clicked by s1, s2, s5
    assert per[0] == (5, 3)
    assert per[1] == (5, 1) and per[2] == (5, 1) and per[3] == (5, 1) and per[4] == (3, 0)
    r0 = row(df, position=0)
    assert (r0.ctr_low, r0.ctr_high) == pytest.approx(wilson_ref(3, 5))
    capped = A.ctr_by_position(db, max_position=1, by_algorithm=True)
    assert set(capped.position) == {0, 1}
    assert row(capped, algorithm="trending", position=0).impressions == 2 + 1


def test_daily_series(db):
    df = A.daily(db)
    assert [d.date() for d in df.day] == [date(2024, 5, 1), date(2024, 5, 2)]
    d1, d2 = df.iloc[0], df.iloc[1]
    assert (d1.impressions, d1.clicks, d1.carts, d1.purchases) == (10, 3, 1, 1)
    assert (d2.impressions, d2.clicks, d2.carts, d2.purchases) == (8 + 5 + 1, 1 + 2 + 1, 1 + 2, 1)
    per_algo = A.daily(db, by="algorithm", scope=Scope(simulated=False))
    assert row(per_algo, day=D2, algorithm="trending").impressions == 8


def test_funnel_counts_events_and_sessions(db):
    df = A.funnel(db, Scope(simulated=False))
    assert list(df.stage) == ["impression", "click", "cart_add", "purchase"]
    assert list(df.events) == [10 + 8 + 5, 3 + 1 + 2 + 1, 1 + 1 + 2, 1 + 1]
    # sessions: impressions s1..s5; clicks s1, s2, s3, s5, s6; carts s1, s3, s5; purchases s1, s5
    assert list(df.sessions) == [5, 5, 3, 2]
    assert math.isnan(df.rate_from_previous[0])
    assert list(df.rate_from_previous[1:]) == pytest.approx([5 / 5, 3 / 5, 2 / 3])


def test_top_products_with_titles(db):
    with db.session() as s:
        s.add(Product(id=100, sku="P100", title="Linen shirt", price=30.0))
    df = A.top_products(db, n=2, by="clicks")
    assert list(df.product_id) == [100, 101]  # 100: 2 clicks; 101, 202, 300, 303, 999: 1 each → lowest id
    assert list(df.clicks) == [2, 1] and df.title[0] == "Linen shirt" and pd.isna(df.title[1])
    assert df.ctr.iloc[0] == pytest.approx(2 / 2)
    buys = A.top_products(db, n=5, by="purchases")
    assert list(buys.product_id[:2]) == [100, 300] and list(buys.purchases[:2]) == [1, 1]
    # shown at least twice: 100 (2 of 2), then 101 and 202 (1 of 2 each, lower id first)
    by_ctr = A.top_products(db, n=3, by="ctr", min_impressions=2)
    assert list(by_ctr.product_id) == [100, 101, 202]
    assert list(by_ctr.ctr) == pytest.approx([2 / 2, 1 / 2, 1 / 2])
    with pytest.raises(ValidationError):
        A.top_products(db, n=0)
    with pytest.raises(ValidationError, match="cannot rank"):
        A.top_products(db, by="sessions")


def test_coverage_counts_products_and_vectors(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    assert A.coverage(db) == A.Coverage(0, 0, 0, 0, 0)
    with db.session() as s:
        for i in range(1, 6):
            s.add(Product(id=i, sku=f"S{i}", title=f"P{i}", price=1.0, is_active=i != 5))
        s.flush()
        s.add_all([VectorSync(product_id=1, content_hash="h", text_encoder="use", image_encoder="clip", text_weight=.5),
                   VectorSync(product_id=2, content_hash="h", text_encoder="use", image_encoder="clip", text_weight=.5),
                   VectorSync(product_id=3, content_hash="h", text_encoder="use", image_encoder=None, text_weight=.5,
                              has_image=False)])
    cov = A.coverage(db)
    assert cov == A.Coverage(products=5, active=4, with_text=3, with_image=2, with_combined=3)
    assert list(cov.as_frame()["count"]) == [5, 4, 3, 2, 3]


# ---- popularity / trending -------------------------------------------------------------------------------------

NOW = datetime(2024, 6, 1, 12, 0)


@pytest.fixture()
def pop_db(tmp_path) -> Database:
    """Product 1: a purchase 48 h ago. Product 2: two clicks 1 h ago. Product 3 (category 20): a cart 10 h ago,
    and a purchase in the future that must not count."""
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    with db.session() as s:
        s.add_all([Category(id=10, name="Shoes", path="Shoes"), Category(id=20, name="Bags", path="Bags")])
        s.flush()
        s.add_all([Product(id=1, sku="a", title="a", price=1, category_id=10),
                   Product(id=2, sku="b", title="b", price=1, category_id=10),
                   Product(id=3, sku="c", title="c", price=1, category_id=10)])
        s.flush()
        s.add(ProductCategory(product_id=3, category_id=20))
    EventLog(db).log_many([
        Event("purchase", "x", 1, ts=NOW - timedelta(hours=48)),
        Event("click", "y", 2, ts=NOW - timedelta(hours=1)), Event("click", "z", 2, ts=NOW - timedelta(hours=1)),
        Event("impression", "y", 2, ts=NOW - timedelta(hours=1)),
        Event("cart_add", "w", 3, ts=NOW - timedelta(hours=10)),
        Event("purchase", "w", 3, ts=NOW + timedelta(hours=1)),
    ])
    return db


def test_popularity_is_the_decayed_weighted_sum(pop_db):
    h = 24.0
    got = P.popularity(pop_db, half_life_hours=h, now=NOW)
    assert got == pytest.approx({1: 5 * 0.5 ** (48 / h), 2: 2 * 1 * 0.5 ** (1 / h), 3: 3 * 0.5 ** (10 / h)})
    custom = P.popularity(pop_db, half_life_hours=h, now=NOW, weights={"impression": 0.5, "click": 0.0})
    assert custom == pytest.approx({1: 5 * 0.5 ** (48 / h), 2: 0.5 * 0.5 ** (1 / h), 3: 3 * 0.5 ** (10 / h)})


def test_trending_order_follows_the_half_life(pop_db):
    # long memory: the old purchase (5) beats two fresh clicks (2) and the cart (3)
    slow = P.trending(pop_db, n=3, half_life_hours=10_000, now=NOW)
    assert [t.product_id for t in slow] == [1, 3, 2]
    # short memory: 5·2^(−48/6) ≈ 0.02, 3·2^(−10/6) ≈ 0.94, 2·2^(−1/6) ≈ 1.78
    fast = P.trending(pop_db, n=3, half_life_hours=6, now=NOW)
    assert [t.product_id for t in fast] == [2, 3, 1]
    assert fast[0].score == pytest.approx(2 * 0.5 ** (1 / 6))
    assert [t.product_id for t in P.trending(pop_db, n=1, half_life_hours=6, now=NOW)] == [2]


def test_trending_within_a_category_includes_secondary_categories(pop_db):
    assert [t.product_id for t in P.trending(pop_db, n=5, category_id=20, now=NOW)] == [3]
    assert {t.product_id for t in P.trending(pop_db, n=5, category_id=10, now=NOW)} == {1, 2, 3}
    with pytest.raises(NotFound):
        P.trending(pop_db, category_id=99, now=NOW)


@pytest.mark.parametrize("kwargs", [{"half_life_hours": 0}, {"half_life_hours": math.nan},
                                    {"weights": {"view": 1.0}}, {"weights": {"click": -1.0}},
                                    {"weights": {k: 0.0 for k in ("impression", "click", "cart_add", "purchase")}}])
def test_popularity_rejects_bad_arguments(pop_db, kwargs):
    with pytest.raises(ValidationError):
        P.popularity(pop_db, now=NOW, **kwargs)


def test_wilson_helper_matches_the_formula_and_handles_empty_groups():
    assert A.wilson(7, 40) == pytest.approx(wilson_ref(7, 40))
    assert all(math.isnan(v) for v in A.wilson(0, 0))
    assert all(math.isnan(v) for v in A.wilson(5, 3))  # more clicks than impressions: no interval
