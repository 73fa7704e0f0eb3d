"""Frequently bought together: the basket maths on a hand-made event log (real SQLite), then the facade on
the real Luma catalog, including the fall-back to complete the look."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.catalog.db import Database
from engine.errors import NotFound, ValidationError
from engine.insights.events import Event, EventLog
from engine.recommend.fbt import (SOURCE_CO_PURCHASE, SOURCE_LOOK, SOURCE_MIXED, co_purchases, frequently_bought_together)
from engine.recommend.rules import Rule
from engine.types import Filters
from test_personal import World, luma_world, personal_config

T = datetime(2025, 3, 1, 10, 0)

# session: [(kind, product)] — products 1..6 are ids of an external log (no catalog needed for the maths)
BASKETS: dict[str, list[tuple[str, int]]] = {
    "s1": [("cart_add", 1), ("purchase", 2), ("cart_add", 5)],
    "s2": [("purchase", 1), ("cart_add", 2), ("cart_add", 5)],
    "s3": [("cart_add", 1), ("cart_add", 2), ("cart_add", 2)],  # the same pair twice in one basket counts once
    "s4": [("cart_add", 1), ("cart_add", 3), ("cart_add", 5)],
    "s5": [("purchase", 5)],
    "s6": [("cart_add", 5), ("cart_add", 4)],
    "s7": [("cart_add", 5), ("cart_add", 6)],
    "s8": [("purchase", 4)],
    "s9": [("click", 1), ("click", 6)],  # browsing is not a basket
    "s10": [("impression", 1), ("impression", 2)],
}
SIMULATED = {"s11": [("cart_add", 1), ("cart_add", 6)]}


@pytest.fixture()
def log_db(tmp_path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'fbt.db'}")
    events = [Event(kind, session, pid, ts=T + timedelta(minutes=i))
              for session, items in BASKETS.items() for i, (kind, pid) in enumerate(items)]
    events += [Event(kind, session, pid, ts=T, simulated=True) for session, items in SIMULATED.items()
               for kind, pid in items]
    EventLog(db).log_many(events)
    return db


def _table(pairs) -> list[tuple]:
    return [(p.product_id, p.together, p.support, p.confidence, p.lift) for p in pairs]


def test_support_confidence_and_lift_by_hand(log_db):
    # 9 baskets (s1-s8, s11); 5 hold product 1. Baskets holding: 2 → 3, 5 → 6, 3 → 1, 6 → 2.
    pairs, baskets = co_purchases(log_db, 1, min_support=1, min_confidence=0, min_lift=0)
    assert baskets == 5
    assert _table(pairs) == pytest.approx([
        (2, 3, 3 / 9, 3 / 5, (3 / 5) / (3 / 9)),  # lift 1.8
        (5, 3, 3 / 9, 3 / 5, (3 / 5) / (6 / 9)),  # as often with 1, but 5 is in most baskets: lift 0.9
        (3, 1, 1 / 9, 1 / 5, (1 / 5) / (1 / 9)),
        (6, 1, 1 / 9, 1 / 5, (1 / 5) / (2 / 9)),
    ])


@pytest.mark.parametrize("thresholds, expected", [
    ({}, [2]),  # defaults: at least 2 baskets, lift ≥ 1
    ({"min_support": 1}, [2, 3]),
    ({"min_support": 1, "min_lift": 0}, [2, 5, 3, 6]),
    ({"min_support": 3, "min_lift": 0}, [2, 5]),
    ({"min_support": 4, "min_lift": 0}, []),
    ({"min_support": 1, "min_lift": 0, "min_confidence": 0.5}, [2, 5]),
    ({"min_support": 1, "min_lift": 1.9}, []),
])
def test_thresholds(log_db, thresholds, expected):
    pairs, _ = co_purchases(log_db, 1, **thresholds)
    assert [p.product_id for p in pairs] == expected


def test_simulated_baskets_can_be_left_out(log_db):
    pairs, baskets = co_purchases(log_db, 1, min_support=1, min_confidence=0, min_lift=0, include_simulated=False)
    assert baskets == 4  # 8 baskets of real traffic, 4 holding product 1
    assert _table(pairs) == pytest.approx([
        (2, 3, 3 / 8, 3 / 4, (3 / 4) / (3 / 8)),
        (5, 3, 3 / 8, 3 / 4, (3 / 4) / (6 / 8)),
        (3, 1, 1 / 8, 1 / 4, (1 / 4) / (1 / 8)),
    ])


def test_a_product_in_no_basket_has_no_pairs(log_db):
    assert co_purchases(log_db, 99, min_support=1, min_lift=0) == ([], 0)
    assert co_purchases(log_db, 6, min_support=3) == ([], 2)  # in 2 baskets: no pair can reach 3


@pytest.mark.parametrize("bad", [{"min_support": 0}, {"min_support": 1.5}, {"min_support": True},
                                 {"min_confidence": 1.5}, {"min_confidence": float("nan")}, {"min_lift": -1}])
def test_bad_thresholds(log_db, bad):
    with pytest.raises(ValidationError):
        co_purchases(log_db, 1, **bad)


# ---------------------------------------------------------------- on the catalog

@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


@pytest.fixture(scope="module")
def shop(world):
    """Baskets around MH07-Gray: 3 with MP03-Blue, 2 with 24-MB02, 2 with its own variant MH07-Black, and 6
    baskets of other products, so lift has a base to compare with."""
    c = world.card
    source, pants, bag, variant = c("MH07-Gray"), c("MP03-Blue"), c("24-MB02"), c("MH07-Black")
    events = []
    for i, other in enumerate([pants] * 3 + [bag] * 2 + [variant] * 2):
        events += [Event("cart_add", f"fbt-{i}", source.id), Event("purchase", f"fbt-{i}", other.id)]
    for i, sku in enumerate(("24-WG09", "24-WG01", "MS04-Red", "WS03-Blue", "MT07-Gray", "24-MB05")):
        events.append(Event("purchase", f"fbt-other-{i}", c(sku).id))
    world.log(*events)
    return {"source": source, "pants": pants, "bag": bag, "variant": variant}


def _ids(result) -> list[int]:
    return [r.product.id for r in result.items]


def test_bought_together_ranks_by_confidence_and_skips_variants(world, shop):
    rec = world.recommender()
    result = frequently_bought_together(rec, "MH07-Gray", n=2)
    assert result.source == SOURCE_CO_PURCHASE and result.baskets == 7
    assert _ids(result) == [shop["pants"].id, shop["bag"].id]
    first = result.items[0]
    assert (first.vector, first.rank, first.score) == ("fbt", 1, pytest.approx(3 / 7))
    assert first.factors["together"] == 3 and first.factors["lift"] > 1
    assert first.reasons == ["bought together in 3 baskets"]
    assert shop["variant"].id in {p.product_id for p in result.pairs}  # a qualifying pair, but a variant


def test_too_few_pairs_are_topped_up_by_complete_the_look(world, shop):
    rec = world.recommender()
    mixed = frequently_bought_together(rec, shop["source"].id, n=5)
    look = [r.product.id for r in rec.complete_the_look(shop["source"].id)]
    assert mixed.source == SOURCE_MIXED
    assert _ids(mixed)[:2] == [shop["pants"].id, shop["bag"].id]
    assert _ids(mixed)[2:] == [i for i in look if i not in _ids(mixed)[:2]][:3]
    assert [r.rank for r in mixed.items] == [1, 2, 3, 4, 5]
    assert [r.vector for r in mixed.items][2:] == ["combined"] * 3


def test_no_basket_data_falls_back_to_complete_the_look(world, shop):
    rec = world.recommender()
    result = frequently_bought_together(rec, "MJ12-Orange", n=4)
    assert result.source == SOURCE_LOOK and result.baskets == 0 and result.pairs == []
    assert _ids(result) == [r.product.id for r in rec.complete_the_look("MJ12-Orange")][:4]
    assert "MJ12-Orange is in 0 baskets" in result.reason


def test_filters_and_hide_rules_apply(world, shop):
    cheap = frequently_bought_together(world.recommender(), "MH07-Gray", n=2, filters=Filters(price_max=55))
    assert shop["bag"].id not in _ids(cheap)  # 59.00
    assert all(r.product.price <= 55 for r in cheap.items)
    cfg = personal_config()
    cfg.rules = [Rule("hide-pants", "hide", shop["pants"].id)]
    hidden = frequently_bought_together(world.recommender(cfg.validate()), "MH07-Gray", n=3)
    assert shop["pants"].id not in _ids(hidden) and _ids(hidden)[0] == shop["bag"].id


def test_unknown_product_and_bad_n(world, shop):
    rec = world.recommender()
    with pytest.raises(NotFound):
        frequently_bought_together(rec, "NO-SUCH-SKU")
    with pytest.raises(ValidationError):
        frequently_bought_together(rec, "MH07-Gray", n=0)
    with pytest.raises(ValidationError):
        frequently_bought_together(rec, "MH07-Gray", min_support=0)
