"""The recommendation cache: a bounded in-process TTL cache by default, Redis when REDIS_URL is set.

A cache entry is only reusable while the config and the vectors that produced it are the ones in use, so
every key carries the config fingerprint and the index version: exporting a new config or reindexing moves
every lookup to fresh keys and the old entries simply expire. Redis is an optimisation, never a dependency:
when it goes away the cache reads as empty (one warning per outage) and it is retried every few seconds.

Redis lives in engine.cache_redis: blocking reads and writes for every caller, and an asynchronous read the HTTP
service awaits on its event loop (`RecoCache.aget_list`).

Entries are JSON written and read through pydantic (`CachedList`: the list as the response shows it), so a
cached list comes back exactly as it was first served, and an entry of another shape (an older release
sharing the Redis) is dropped instead of served.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Literal, Protocol

import cachetools
import pydantic
from pydantic import BaseModel
from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.models import VectorSync
from engine.cache_redis import KEY_PREFIX, REDIS_RETRY_SECONDS, REDIS_TIMEOUT_SECONDS, RedisCache, redact  # noqa: F401
from engine.errors import ValidationError
from engine.settings import Settings

log = logging.getLogger(__name__)

LIST_FORMAT = 2  # CachedList.format of this release
DEFAULT_MAX_ENTRIES = 10_000
INDEX_VERSION_TTL = 1.0  # seconds an index version read from SQL is reused (it is read on every request)


class CacheBackend(Protocol):
    """Bytes by key, each entry living `ttl` seconds (one TTL per backend, set when it is built).
    Implementations never raise for an unavailable backend."""

    name: str
    ttl: float

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...

    def clear(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class NullCache:
    """VITRINA_CACHE_TTL=0: every lookup misses, nothing is kept."""

    name = "none"
    ttl = 0.0

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes) -> None:
        return None

    def clear(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name}


class _EvictingTTLCache(cachetools.TTLCache):
    """cachetools' TTLCache (the least recently used entry goes first when it is full), reporting those
    evictions: a cache that keeps evicting is too small for the traffic, which /health should show."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float], on_evict: Callable[[], None]):
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer)
        self._on_evict = on_evict

    def popitem(self):
        item = super().popitem()
        self._on_evict()
        return item


class MemoryCache:
    """In-process and bounded: at most `max_entries`, each expiring `ttl` seconds after it was written
    (cachetools.TTLCache, behind a lock: it is not thread-safe by itself). One per process, so instances of a
    scaled-out service do not share it (that is what Redis is for)."""

    name = "memory"

    def __init__(self, ttl: float, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic):
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValidationError(f"max_entries must be a whole number ≥ 1, got {max_entries!r}")
        if not ttl > 0:
            raise ValidationError(f"the TTL of an in-process cache must be above 0 seconds, got {ttl!r} "
                                  f"(no cache at all is NullCache)")
        self.ttl, self.max_entries, self._clock = float(ttl), max_entries, clock
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0
        self._data = self._empty()

    def _empty(self) -> _EvictingTTLCache:
        return _EvictingTTLCache(self.max_entries, self.ttl, self._clock, self._evicted)

    def _evicted(self) -> None:
        self.evictions += 1

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self._data.expire()  # expired entries are dropped when met, not kept until evicted
                self.misses += 1
                return None
            self.hits += 1
            return value

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value

    def clear(self) -> None:
        with self._lock:
            self._data = self._empty()  # emptying in place would count every entry as evicted

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "entries": len(self), "max_entries": self.max_entries,
                "evictions": self.evictions}


# ---------------------------------------------------------------- serialising results

class CachedList(BaseModel):
    """A served list as the cache keeps it: the response's items already rendered (plain JSON objects with
    the photo as a URL relative to the service root), so a hit is one JSON parse and no model building, and
    what the response and the impression log say about them. The per-request parts (request id, config label,
    whether it came from the cache, the absolute photo URLs) are added when it is served. `format` changes
    whenever the items' shape does, so an entry of an older release sharing the Redis is dropped."""

    format: Literal[2]  # required: an entry without it was written by an older release
    items: list[dict[str, Any]]
    algorithm: str
    strategy: str | None = None
    source_product_id: int | None = None
    config_version: int | None = None  # the published version that ranked it
    extra: dict[str, Any] = {}  # endpoint-specific fields of the response (FBT's source, reason, baskets)

    def served(self) -> list[tuple[int, int, float]]:
        """(product id, position, score) of every item: what the impression log records."""
        return [(int(it["id"]), i, float(it["score"])) for i, it in enumerate(self.items)]


# ---------------------------------------------------------------- versions and keys

def index_version(db: Database, store=None) -> str:
    """What the vectors are now: the collection spec, the number of synced products and the latest sync
    time. Every indexer run that changes a vector or a payload touches vector_sync, so this changes too."""
    with db.engine.connect() as conn:
        count, latest = conn.execute(select(func.count(), func.max(VectorSync.synced_at))).one()
    spec = store.spec() if store is not None else None
    spec_text = "none" if spec is None else (f"{spec.text_encoder}/{spec.text_dim}/{spec.image_encoder}/"
                                             f"{spec.image_dim}/{spec.text_weight}")
    latest_text = latest.isoformat() if isinstance(latest, datetime) else str(latest)
    raw = f"{spec_text}|{int(count)}|{latest_text}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


class IndexVersion:
    """`index_version` read at most once per `ttl` seconds: it sits on every request's path."""

    def __init__(self, db: Database, store_of: Callable[[], Any] = lambda: None, ttl: float = INDEX_VERSION_TTL):
        self.db, self.store_of = db, store_of
        self._memo: cachetools.TTLCache = cachetools.TTLCache(maxsize=1, ttl=ttl)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            value = self._memo.get("version")
            if value is None:
                value = self._memo["version"] = index_version(self.db, self.store_of())
            return value

    def peek(self) -> str | None:
        """The remembered version while it is fresh, else None; never reads the database."""
        return self._memo.get("version")

    def forget(self) -> None:
        with self._lock:
            self._memo.clear()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v) for v in value)
    return value


def cache_key(kind: str, params: dict[str, Any], config_fingerprint: str, index: str) -> str:
    """`vitrina:reco:v2:<config>:<index>:<kind>:<hash of the parameters>`: the versions lead, so every
    entry of an old config or index is unreachable at once."""
    body = json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]
    return f"{KEY_PREFIX}:{config_fingerprint[:16]}:{index}:{kind}:{digest}"


@dataclass
class RecoCache:
    """JSON payloads (recommendation lists and their context) in a backend, which sets the TTL."""

    backend: CacheBackend
    stats: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0, "errors": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _read(self, key: str) -> Any | None:
        return self._decoded(key, self.backend.get(key))

    def _decoded(self, key: str, raw: bytes | None) -> Any | None:
        if raw is None:
            self._count("misses")
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._count("errors")
            log.warning("dropping an unreadable cache entry %s", key)
            return None

    def get(self, key: str) -> Any | None:
        value = self._read(key)
        if value is not None:
            self._count("hits")
        return value

    def put(self, key: str, payload: Any) -> None:
        try:
            raw = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as e:
            self._count("errors")
            log.warning("not caching %s: %s", key, e)
            return
        self.backend.set(key, raw)

    def get_list(self, key: str) -> CachedList | None:
        """The cached list under `key`; None on a miss or for an entry of another shape or no JSON at all
        (dropped, counted as an error: say, written by an older release sharing the Redis)."""
        return self._list(key, self.backend.get(key))

    async def aget_list(self, key: str) -> CachedList | None:
        """get_list on the event loop: awaited from a backend that reads asynchronously (Redis), read directly
        from one that never blocks (in-process). See `on_loop`."""
        aget = getattr(self.backend, "aget", None)
        return self._list(key, await aget(key) if aget is not None else self.backend.get(key))

    @property
    def on_loop(self) -> bool:
        """Whether aget_list can run on an event loop without blocking it."""
        return self.backend.name == "memory" or hasattr(self.backend, "aget")

    async def aclose(self) -> None:
        """Release what the asynchronous reads hold on the running loop (nothing for the in-process cache)."""
        aclose = getattr(self.backend, "aclose", None)
        if aclose is not None:
            await aclose()

    def _list(self, key: str, raw: bytes | None) -> CachedList | None:
        """The entry parsed and checked in one pass by pydantic's JSON parser (a hit's whole cost, so no
        json.loads and model_validate of the parsed objects: a third of it)."""
        if raw is None:
            self._count("misses")
            return None
        try:
            entry = CachedList.model_validate_json(raw)
        except pydantic.ValidationError as e:
            self._count("errors")
            log.warning("ignoring a cache entry of another shape (%s): %s", key, e.errors()[0]["msg"])
            return None
        self._count("hits")
        return entry

    def put_list(self, key: str, entry: CachedList) -> None:
        self.put(key, entry.model_dump(mode="json"))

    def clear(self) -> None:
        self.backend.clear()

    @property
    def ttl(self) -> float:
        return self.backend.ttl

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.backend.name != "none"

    def status(self) -> dict[str, Any]:
        return {**self.backend.status(), "ttl": self.ttl, **self.stats}


def make_cache(settings: Settings | None = None, max_entries: int = DEFAULT_MAX_ENTRIES) -> RecoCache:
    """Redis when REDIS_URL is set, otherwise the in-process cache; no cache at all when the TTL is 0."""
    settings = settings or Settings()
    ttl = float(settings.cache_ttl)
    if ttl != ttl or ttl < 0:
        raise ValidationError(f"VITRINA_CACHE_TTL must be a number of seconds ≥ 0, got {settings.cache_ttl!r}")
    if ttl == 0:
        return RecoCache(NullCache())
    if settings.redis_url:
        return RecoCache(RedisCache(settings.redis_url, ttl))
    return RecoCache(MemoryCache(ttl, max_entries))
