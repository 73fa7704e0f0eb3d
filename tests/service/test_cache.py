"""The recommendation cache: the bounded in-process TTL cache (cachetools), JSON round trips of results and of
cached lists, keys that follow the config and the index (a real reindex of the Luma catalog), and Redis — a real
redis-server started here, then killed mid-test and restarted."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis
from pydantic import TypeAdapter
from sqlalchemy import update

from engine.cache import (LIST_FORMAT, CachedList, IndexVersion, MemoryCache, NullCache, RecoCache, RedisCache, cache_key,
                          index_version, make_cache, redact)
from engine.catalog.models import Product
from engine.errors import ValidationError
from engine.insights.events import utc_now
from engine.recommend.config import RecoConfig, fingerprint
from engine.settings import Settings
from engine.types import ProductCard, Recommendation
from test_personal import World, luma_world

REDIS_START_TIMEOUT = 10.0


# ---------------------------------------------------------------- a real Redis

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on a loopback port, in its own folder, persistence off; stop() kills it like an outage."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder, self.port = folder, port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=(self.folder / "redis.log").open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        while True:
            try:
                if client.ping():
                    return self
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}: see {self.folder / 'redis.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        msg = "redis-server is not installed (apt-get install redis-server, or `make setup-dev`)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " — required under CI", pytrace=False)
        pytest.skip(msg)


@pytest.fixture()
def redis_server(tmp_path):
    require_redis_server()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


# ---------------------------------------------------------------- in-process

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_cache_hits_misses_and_expiry():
    clock = Clock()
    cache = MemoryCache(ttl=10, max_entries=10, clock=clock)
    assert cache.get("a") is None
    cache.set("a", b"1")
    assert cache.get("a") == b"1"
    clock.now += 9.9
    assert cache.get("a") == b"1"
    clock.now += 0.1
    assert cache.get("a") is None and len(cache) == 0  # expired entries are dropped when met
    assert (cache.hits, cache.misses) == (2, 2)
    with pytest.raises(ValidationError):
        MemoryCache(ttl=0)  # a zero TTL is no cache at all: NullCache, never an in-process one


def test_memory_cache_is_bounded_and_evicts_the_least_recently_used():
    cache = MemoryCache(ttl=60, max_entries=3, clock=Clock())
    for k in "abc":
        cache.set(k, k.encode())
    assert cache.get("a") == b"a"  # a is now the most recently used
    cache.set("d", b"d")
    assert len(cache) == 3 and cache.evictions == 1
    assert cache.get("b") is None and [cache.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    cache.clear()  # emptying is not evicting
    assert len(cache) == 0 and cache.evictions == 1 and cache.status()["evictions"] == 1
    with pytest.raises(ValidationError):
        MemoryCache(ttl=60, max_entries=0)


def _recs() -> list[Recommendation]:
    card = ProductCard(id=7, sku="MJ01-Red", title="Beaumont Summit Kit", price=42.0, colour="red", brand=None,
                       category_id=10, category="Jackets", category_path="Men / Tops / Jackets",
                       image="/data/m/mj01-red_main.jpg", created_at=datetime(2024, 5, 1, 10, 30, 15, 250000),
                       language="en", category_ids=[10, 9, 8], stock_qty=100, cost=None, views=3, sales=1,
                       popularity=2.5)
    other = ProductCard(id=8, sku="24-MB02", title="Fusion Backpack", price=59.0)
    return [Recommendation(card, 0.91, "combined", rank=1, similarity=0.88, factors={"similarity": 0.88},
                           reasons=["very similar style"]),
            Recommendation(other, 0.5, "combined", rank=2, relation="bag")]


def _as_json(recs: list[Recommendation]) -> list[dict]:
    """The engine's records as JSON: the items of a cache entry written by format 1."""
    return TypeAdapter(list[Recommendation]).dump_python(recs, mode="json")


def test_make_cache_picks_the_backend_from_the_settings():
    s = Settings()
    s.redis_url, s.cache_ttl = "", 300.0
    assert isinstance(make_cache(s).backend, MemoryCache) and make_cache(s).enabled and make_cache(s).ttl == 300.0
    s.cache_ttl = 0.0
    assert isinstance(make_cache(s).backend, NullCache) and not make_cache(s).enabled
    s.cache_ttl, s.redis_url = 30.0, "redis://:secret@127.0.0.1:1/0"
    cache = make_cache(s)
    assert isinstance(cache.backend, RedisCache) and cache.ttl == 30.0
    assert "secret" not in str(cache.status()) and redact(s.redis_url) == "redis://:***@127.0.0.1:1/0"
    s.cache_ttl = -1.0
    with pytest.raises(ValidationError):
        make_cache(s)
    s.cache_ttl, s.redis_url = 30.0, "http://not-redis"
    with pytest.raises(ValidationError, match="not a Redis URL"):
        make_cache(s)


# ---------------------------------------------------------------- keys follow the config and the index

@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


def _touch(world: World, sku: str, price: float) -> None:
    """A merchant edit: the next indexer run rewrites the product's payload and its sync row."""
    with world.runtime.db.session() as s:
        s.execute(update(Product).where(Product.sku == sku).values(price=price, updated_at=utc_now()))


def test_index_version_changes_with_a_reindex_only(world):
    rt, indexer = world.runtime, world.indexer()
    v1 = index_version(rt.db, rt.store)
    assert indexer.run().candidates == 0 and index_version(rt.db, rt.store) == v1  # nothing to do: same
    _touch(world, "24-WG085", 15.0)
    assert indexer.run().candidates == 1
    v2 = index_version(rt.db, rt.store)
    assert v2 != v1
    memo = IndexVersion(rt.db, lambda: rt.store, ttl=60)
    assert memo() == v2
    _touch(world, "24-WG085", 14.0)
    indexer.run()
    assert memo() == v2  # reused within its TTL: one SQL read per second at most on the request path
    memo.forget()
    assert memo() == index_version(rt.db, rt.store) != v2


def test_keys_carry_the_config_fingerprint_and_the_index_version():
    base = RecoConfig.default()
    relabelled = RecoConfig.default()
    relabelled.version, relabelled.created_at = "2025-01-01", "2025-01-01T00:00:00+00:00"
    tuned = RecoConfig.default()
    tuned.strategies["balanced"].weights["similarity"] = 0.9
    params = {"id": "MJ01-Red", "limit": 12, "color": ["red", "blue"]}
    key = cache_key("similar", params, fingerprint(base), "ix1")
    assert key.startswith("vitrina:reco:v2:")
    assert cache_key("similar", dict(reversed(params.items())), fingerprint(base), "ix1") == key
    assert cache_key("similar", params, fingerprint(relabelled), "ix1") == key  # a new label alone changes nothing
    assert cache_key("similar", params, fingerprint(tuned), "ix1") != key
    assert cache_key("similar", params, fingerprint(base), "ix2") != key
    assert cache_key("trending", params, fingerprint(base), "ix1") != key
    assert cache_key("similar", {**params, "limit": 13}, fingerprint(base), "ix1") != key


def test_reco_cache_stores_json_and_drops_unreadable_entries():
    backend = MemoryCache(ttl=60)
    cache = RecoCache(backend)
    payload = {"items": _as_json(_recs()), "algorithm": "vector_combined"}
    cache.put("k", payload)
    assert cache.get("k") == payload and cache.stats["hits"] == 1
    backend.set("broken", b"{not json")
    assert cache.get("broken") is None and cache.stats["errors"] == 1
    cache.put("nan", {"score": float("nan")})  # not valid JSON: refused, not stored
    assert backend.get("nan") is None and cache.stats["errors"] == 2


def test_cached_lists_round_trip_and_other_shapes_are_dropped():
    cache = RecoCache(MemoryCache(ttl=60))
    items = [{"id": 7, "sku": "A-7", "title": "Jacket", "price": 60.0, "image": "media/a.jpg", "score": 0.9,
              "reasons": ["same category"], "rank": 1, "vector": "combined", "relation": None},
             {"id": 9, "sku": "B-9", "title": "Bag", "price": 20.0, "image": None, "score": 0.5, "reasons": [],
              "rank": 2, "vector": "combined", "relation": "bag"}]
    entry = CachedList(format=LIST_FORMAT, items=items, algorithm="fbt", strategy=None, source_product_id=7,
                       extra={"source": "co-purchases", "baskets": 3})
    cache.put_list("k", entry)
    again = cache.get_list("k")
    assert again == entry and again.served() == [(7, 0, 0.9), (9, 1, 0.5)]
    # Entries written by other releases: the Recommendation records of format 1, and a bare shape.
    cache.put("v1", {"items": _as_json(_recs()), "algorithm": "fbt"})
    cache.put("old", {"items": [{"id": 7}], "algorithm": "fbt"})
    hits, errors = cache.stats["hits"], cache.stats["errors"]
    assert cache.get_list("v1") is None and cache.get_list("old") is None
    assert cache.stats["errors"] == errors + 2 and cache.stats["hits"] == hits
    assert cache.get_list("absent") is None


# ---------------------------------------------------------------- Redis

def test_redis_cache_hits_misses_expiry_and_clear(redis_server):
    cache = RecoCache(RedisCache(redis_server.url, ttl=0.3))
    key = cache_key("similar", {"id": 1}, "f" * 64, "ix")
    assert cache.get(key) is None
    payload = {"items": _as_json(_recs())}
    cache.put(key, payload)
    assert cache.get(key) == payload
    time.sleep(0.4)
    assert cache.get(key) is None  # Redis expired it
    cache.put(key, payload)
    foreign = redis.Redis.from_url(redis_server.url)
    foreign.set("someone-else:1", b"x")
    cache.clear()
    assert cache.get(key) is None and foreign.get("someone-else:1") == b"x"  # only the engine's keys go


def test_redis_going_away_degrades_to_no_cache_with_one_warning(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="engine.cache")
    backend = RedisCache(redis_server.url, ttl=60, retry_after=0.3)
    cache = RecoCache(backend)
    cache.put("vitrina:reco:v2:k", {"n": 1})
    assert cache.get("vitrina:reco:v2:k") == {"n": 1}

    redis_server.stop()  # the server process is gone mid-run
    for _ in range(5):
        assert cache.get("vitrina:reco:v2:k") is None
        cache.put("vitrina:reco:v2:k", {"n": 2})
    time.sleep(0.35)
    assert cache.get("vitrina:reco:v2:k") is None  # retried once the pause was over: still down, still quiet
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "serving without cache" in warnings[0].getMessage()
    assert backend.status()["up"] is False and backend.last_error

    redis_server.start()  # back on the same port: used again after the retry pause
    time.sleep(0.35)
    cache.put("vitrina:reco:v2:k", {"n": 3})
    assert cache.get("vitrina:reco:v2:k") == {"n": 3} and backend.up
    assert any("reachable again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def _run(coro):
    """Run a coroutine on a fresh event loop in its own thread: the browser tests' Playwright (sync API) keeps an
    event loop running in this thread for the whole session, where asyncio.run would refuse."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_redis_read_on_the_event_loop_shares_entries_with_the_blocking_client(redis_server, caplog):
    """The service awaits Redis on its event loop (redis.asyncio); the CLI and library write and read with the
    blocking client. Both see the same keys and bytes, and an outage seen asynchronously is the same outage:
    a miss, one warning, retried after the pause."""
    caplog.set_level(logging.INFO, logger="engine.cache")
    cache = RecoCache(RedisCache(redis_server.url, ttl=60, retry_after=0.3))
    assert cache.on_loop and RecoCache(MemoryCache(ttl=60)).on_loop and not RecoCache(NullCache()).on_loop
    key = cache_key("similar-combined", {"id": "MJ01-Red", "limit": 4}, "a" * 64, "ix")
    entry = CachedList(format=LIST_FORMAT, items=_as_json(_recs()), algorithm="vector_combined", strategy="balanced",
                       source_product_id=7)
    cache.put_list(key, entry)  # written by the blocking client

    async def read(k: str) -> CachedList | None:
        try:
            return await cache.aget_list(k)
        finally:
            await cache.aclose()

    assert _run(read(key)) == entry == cache.get_list(key)
    assert _run(read(key + "-other")) is None
    assert cache.stats["hits"] == 2 and cache.stats["misses"] == 1
    foreign = redis.Redis.from_url(redis_server.url)
    foreign.set(key, b'{"format": 1, "items": []}')  # an older release's entry: dropped, not served
    assert _run(read(key)) is None and cache.stats["errors"] == 1

    redis_server.stop()
    assert _run(read(key)) is None and not cache.backend.up
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "serving without cache" in r.getMessage()]
    assert len(warnings) == 1
    redis_server.start()
    time.sleep(0.35)
    cache.put_list(key, entry)
    assert _run(read(key)) == entry and cache.backend.up
