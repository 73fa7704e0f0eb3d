"""Personalisation on the real Luma catalog (USE text + descriptor photos, embedded Qdrant, SQLite): the
preference vector maths on hand-written events, incremental refresh vs a recomputation, exclusions, cold
start, and "not like this".

The indexed catalog is built once per test session (`luma_world`) and shared with test_fbt and
test_service through the process-wide Runtime, since the embedded store admits one opener per process."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete

from engine.catalog.importers import import_magento
from engine.recommend.config import PersonalisationConfig, RecoConfig
from engine.errors import NotFound, ValidationError
from engine.insights.events import Event, EventLog, utc_now
from engine.catalog.events import EventRow
from engine.indexing.indexer import Indexer
from engine.recommend.personal import (SERVED_COLD_START, SERVED_DISABLED, SERVED_PERSONALISED, personalised)
from engine.recommend.profiles import ProfileStore
from engine.catalog.profiles import UserProfileRow
from engine.recommend.facade import Recommender
from engine.runtime import Runtime, shared
from engine.settings import Settings
from engine.types import ProductCard

T0 = datetime(2025, 1, 6, 12, 0, 0)


# ---------------------------------------------------------------- the shared indexed catalog

@dataclass
class World:
    settings: Settings
    runtime: Runtime

    def recommender(self, config: RecoConfig | None = None) -> Recommender:
        """A fresh facade over the shared parts (the store is reopened if a service released it)."""
        rt = self.runtime
        return rt.recommender(config or personal_config())

    def indexer(self) -> Indexer:
        rt = self.runtime
        return Indexer(rt.db, rt.store, rt.text_encoder, rt.image_encoder, rt.store.spec().text_weight)

    def card(self, sku: str) -> ProductCard:
        return self.runtime.catalog.card(self.runtime.catalog.get(sku))

    def vector(self, product_id: int) -> np.ndarray:
        (hit,) = self.runtime.store.retrieve([product_id], with_vectors=["combined"])
        return np.asarray(hit.vectors["combined"], dtype=np.float64)

    def log(self, *events: Event) -> None:
        EventLog(self.runtime.db).log_many(events)
        self.runtime.popularity.clear()  # other modules share this world: no snapshot from before these events


_WORLD: World | None = None


def luma_world(tmp_path_factory, luma_dir: Path) -> World:
    """Import and index the Luma catalog once per session (~20 s), in a temporary data folder."""
    global _WORLD
    if _WORLD is None:
        settings = Settings()
        settings.data_dir = tmp_path_factory.mktemp("service-world")
        settings.database_url = settings.qdrant_url = settings.redis_url = ""
        settings.image_encoder, settings.text_encoder = "descriptor", "use"
        settings.cache_ttl = 300.0
        rt = shared(settings)
        import_magento(rt.db, luma_dir)
        report = rt.indexer.run()
        assert report.encoded == rt.catalog.stats().active and not report.errors, report.errors[:3]
        _WORLD = World(settings, rt)
    return _WORLD


def personal_config(**personalisation) -> RecoConfig:
    cfg = RecoConfig.default()
    cfg.personalisation = PersonalisationConfig(**{"enabled": True, "history_size": 20, "half_life_hours": 24.0,
                                                   "exclude_seen": True, **personalisation})
    return cfg.validate()


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


def _profiles(world: World) -> ProfileStore:
    rt = world.runtime
    return ProfileStore(rt)


def _ev(kind: str, user: str, card: ProductCard | int, ts: datetime, session: str = "s") -> Event:
    pid = card if isinstance(card, int) else card.id
    return Event(kind, f"{user}-{session}", pid, ts=ts, user_id=user)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------- the maths

def test_preference_vector_is_the_weighted_decayed_sum(world):
    a, b, c, d = (world.card(s) for s in ("MJ01-Red", "MP01-Black", "WS03-Blue", "24-MB05"))
    user = "maths-1"
    world.log(_ev("purchase", user, a, T0), _ev("cart_add", user, b, T0 + timedelta(hours=12)),
              _ev("click", user, c, T0 + timedelta(hours=36)),
              _ev("impression", user, d, T0 + timedelta(hours=40)))  # weight 0: says nothing about taste
    now = T0 + timedelta(hours=48)
    profile = _profiles(world).refresh(user, personal_config(half_life_hours=24.0), now=now)

    w = {a.id: 5 * 0.5 ** 2, b.id: 3 * 0.5 ** 1.5, c.id: 1 * 0.5 ** 0.5}  # weight · 2^(−age/24h)
    expected = sum(w[p.id] * world.vector(p.id) for p in (a, b, c))
    assert profile.events == 3
    assert np.allclose(profile.vector, _unit(expected), atol=1e-6)
    assert math.isclose(profile.weight, sum(w.values()), rel_tol=1e-9)

    shares: dict[int, float] = {}
    for p in (a, b, c):
        shares[p.category_id] = shares.get(p.category_id, 0.0) + w[p.id] / sum(w.values())
    assert profile.categories == pytest.approx(shares)
    mean = sum(w[p.id] * math.log(p.price) for p in (a, b, c)) / sum(w.values())
    var = sum(w[p.id] * math.log(p.price) ** 2 for p in (a, b, c)) / sum(w.values()) - mean ** 2
    spread = max(0.2, math.sqrt(var))
    assert profile.price_band == (round(math.exp(mean - spread), 2), round(math.exp(mean + spread), 2))


def _assert_same(p, q) -> None:
    assert np.allclose(p.vector, q.vector, atol=1e-6)
    assert p.categories == pytest.approx(q.categories, abs=1e-9)
    assert p.price_band == q.price_band
    assert (p.events, p.last_event_id) == (q.events, q.last_event_id)


def test_incremental_refresh_equals_a_recomputation(world):
    cfg = personal_config(history_size=4, half_life_hours=24.0)
    store = _profiles(world)
    a, b, c, d, e, f, g = (world.card(s) for s in ("MJ01-Red", "MP01-Black", "WS03-Blue", "MH01-Black",
                                                   "24-MB05", "WJ05-Red", "MS04-Red"))
    user, h = "inc-1", lambda x: T0 + timedelta(hours=x)
    world.log(_ev("purchase", user, a, h(0)), _ev("click", user, b, h(1)), _ev("cart_add", user, c, h(2)))
    first = store.refresh(user, cfg, now=h(3))
    assert first.events == 3
    # two new events push the oldest one out of the 4-event window; a late arrival (new id, old time) never
    # enters it
    world.log(_ev("click", user, d, h(5)), _ev("purchase", user, e, h(6)), _ev("cart_add", user, f, h(0.5)))
    incremental = store.refresh(user, cfg, now=h(8))
    _assert_same(incremental, store.from_scratch(user, cfg, now=h(8)))
    assert incremental.events == 4

    # The refresh folds new events into the stored sums instead of recomputing: an event deleted from the log
    # after it was folded in still counts, which a recomputation could not know.
    world.log(_ev("click", user, g, h(9)))
    expected = store.from_scratch(user, cfg, now=h(10))
    with world.runtime.db.session() as s:
        s.execute(delete(EventRow).where(EventRow.user_id == user, EventRow.product_id == e.id))
    refreshed = store.refresh(user, cfg, now=h(10))
    _assert_same(refreshed, expected)
    assert not np.allclose(refreshed.vector, store.from_scratch(user, cfg, now=h(10)).vector, atol=1e-4)


def test_new_parameters_rebuild_the_stored_profile(world):
    store = _profiles(world)
    a, b = world.card("MT07-Gray"), world.card("MSH02-Black")
    user = "params-1"
    world.log(_ev("purchase", user, a, T0), _ev("click", user, b, T0 + timedelta(hours=30)))
    now = T0 + timedelta(hours=40)
    store.refresh(user, personal_config(half_life_hours=24.0), now=now)
    slower = personal_config(half_life_hours=240.0)
    rebuilt = store.refresh(user, slower, now=now)
    _assert_same(rebuilt, store.from_scratch(user, slower, now=now))
    with world.runtime.db.session() as s:
        assert "h=240" in s.get(UserProfileRow, user).signature
    # the purchase fades slower, so it weighs more against the later click than at a 24 h half-life
    fast = store.from_scratch(user, personal_config(half_life_hours=24.0), now=now)
    assert rebuilt.categories[a.category_id] > fast.categories[a.category_id]


# ---------------------------------------------------------------- serving

def _ids(result) -> list[int]:
    return [r.product.id for r in result.items]


def test_personalised_leaves_out_what_was_bought_or_seen(world):
    rec = world.recommender()
    a, b, c = world.card("MJ03-Black"), world.card("MJ04-Black"), world.card("MJ07-Black")
    user = "seen-1"
    now = utc_now()
    world.log(_ev("purchase", user, a, now - timedelta(hours=3)), _ev("click", user, b, now - timedelta(hours=2)),
              _ev("cart_add", user, c, now - timedelta(hours=1)))
    result = personalised(rec, user, n=12)
    assert result.served == SERVED_PERSONALISED and len(result.items) == 12
    assert not {a.id, b.id, c.id} & set(_ids(result))
    assert [r.rank for r in result.items] == list(range(1, 13))
    assert all(r.factors and r.vector == "combined" for r in result.items)  # reranked, in the combined space
    assert "3 recent interactions" in result.reason

    lenient = personalised(world.recommender(personal_config(exclude_seen=False)), user, n=12)
    assert a.id not in _ids(lenient)  # bought stays out
    assert {b.id, c.id} & set(_ids(lenient))  # the products they looked at are the nearest to their taste


def rec_ids(rec, n: int) -> list[int]:
    return [r.product.id for r in rec.trending(n)]


def test_cold_start_serves_trending_and_says_so(world):
    rec = world.recommender()
    hot = world.card("MS10-Blue")
    # bought far more than anything the other modules sharing the world log: trending whatever ran before
    world.log(*(Event("purchase", f"cold-hot-{i}", hot.id) for i in range(50)))
    trending = [r.product.id for r in rec.trending(8)]
    assert hot.id in trending

    anonymous = personalised(rec, None, n=8)
    assert (anonymous.served, _ids(anonymous)) == (SERVED_COLD_START, trending)
    assert "anonymous" in anonymous.reason

    newcomer = personalised(rec, "never-seen-before", n=8)
    assert (newcomer.served, _ids(newcomer)) == (SERVED_COLD_START, trending)
    assert "no interactions recorded" in newcomer.reason

    _profiles(world).dislike("cold-dislikes-hot", hot.id)  # "not like this" holds on a cold start too
    fallback = personalised(rec, "cold-dislikes-hot", n=8)
    assert fallback.served == SERVED_COLD_START and _ids(fallback) == [i for i in rec_ids(rec, 9) if i != hot.id]

    world.log(Event("purchase", "ext-s", 10 ** 9, user_id="external-only"),
              Event("click", "ext-s", 10 ** 9 + 1, user_id="external-only"))
    external = personalised(rec, "external-only", n=8)
    assert external.served == SERVED_COLD_START and "none of the 2 recent interactions" in external.reason

    off = personalised(world.recommender(personal_config(enabled=False)), "never-seen-before", n=8)
    assert off.served == SERVED_DISABLED and _ids(off) == trending
    buyer = world.card("MJ03-Black")  # bought by seen-1: not offered again, even when personalisation is off
    assert buyer.id in [r.product.id for r in rec.trending(12)]
    off = personalised(world.recommender(personal_config(enabled=False)), "seen-1", n=8)
    assert buyer.id not in _ids(off)


def test_not_like_moves_the_list_away_from_the_disliked_product(world):
    rec = world.recommender()
    user = "nl-1"
    now = utc_now()
    world.log(*(_ev("purchase", user, world.card(s), now - timedelta(hours=i))
                for i, s in enumerate(("WJ01-Blue", "WJ03-Blue", "WH02-Blue"))))
    before = personalised(rec, user, n=10)
    disliked = before.items[0].product.id
    v = _unit(world.vector(disliked))
    others = [i for i in _ids(before) if i != disliked]
    neighbours = {h.id for h in rec.store.query(v, using="combined", limit=31)} - {disliked}

    after = personalised(rec, user, n=10, not_like=[disliked])
    assert disliked not in _ids(after) and after.negatives == 1
    assert len(neighbours & set(_ids(after))) <= len(neighbours & set(others))

    def closeness(ids: list[int]) -> float:
        return float(np.mean([_unit(world.vector(i)) @ v for i in ids]))

    assert closeness(_ids(after)) < closeness(others) - 0.005  # the whole list moved away, not just the item

    store = _profiles(world)
    store.dislike(user, disliked)  # remembered: the next request needs no parameter
    assert _ids(personalised(rec, user, n=10)) == _ids(after)
    assert store.undislike(user, disliked) and store.dislikes(user) == []
    assert _ids(personalised(rec, user, n=10)) == _ids(before)


@pytest.mark.parametrize("kwargs, error", [
    (dict(n=0), ValidationError),
    (dict(n=10 ** 6), ValidationError),
    (dict(user_id="u" * 129), ValidationError),
    (dict(not_like=["NO-SUCH-SKU"]), NotFound),
    (dict(not_like=list(range(1, 60))), ValidationError),
])
def test_personalised_validates_its_arguments(world, kwargs, error):
    args = {"user_id": "seen-1", "n": 5, **kwargs}
    with pytest.raises(error):
        personalised(world.recommender(), args.pop("user_id"), **args)
