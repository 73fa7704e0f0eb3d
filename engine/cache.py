"""The recommendation cache: a bounded in-process TTL cache by default, Redis when REDIS_URL is set.

A cache entry is only reusable while the config and the vectors that produced it are the ones in use, so
every key carries the config fingerprint and the index version: exporting a new config or reindexing moves
every lookup to fresh keys and the old entries simply expire. Redis is an optimisation, never a dependency:
when it goes away the cache reads as empty (one warning per outage) and it is retried every few seconds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol, Sequence
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select

import redis

from engine.catalog.db import Database
from engine.catalog.models import VectorSync
from engine.errors import ValidationError
from engine.settings import Settings
from engine.types import ProductCard, Recommendation

log = logging.getLogger(__name__)

KEY_PREFIX = "vitrina:reco:v1"
DEFAULT_MAX_ENTRIES = 10_000
REDIS_RETRY_SECONDS = 5.0  # how long an unreachable Redis is left alone before the next attempt
REDIS_TIMEOUT_SECONDS = 0.25  # a cache that answers slower than this is worse than no cache
INDEX_VERSION_TTL = 1.0  # seconds an index version read from SQL is reused (it is read on every request)


class CacheBackend(Protocol):
    """Bytes by key with a time-to-live. Implementations never raise for an unavailable backend."""

    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float) -> None: ...

    def clear(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class NullCache:
    """VITRINA_CACHE_TTL=0: every lookup misses, nothing is kept."""

    name = "none"

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        return None

    def clear(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name}


class TTLCache:
    """In-process, thread-safe, bounded: at most `max_entries`, least recently used evicted first, each entry
    expiring `ttl` seconds after it was written. One per process, so instances of a scaled-out service do
    not share it (that is what Redis is for)."""

    name = "memory"

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic):
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValidationError(f"max_entries must be a whole number ≥ 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: str) -> bytes | None:
        now = self._clock()
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] <= now:
                if item is not None:
                    del self._data[key]
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "entries": len(self._data), "max_entries": self.max_entries,
                "evictions": self.evictions}


def redact(url: str) -> str:
    """The URL without its password, for logs and /health."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisCache:
    """Redis behind the same contract. Any Redis or socket error marks it down: lookups miss and writes are
    dropped until `retry_after` seconds have passed, then the next call tries again. The outage is logged
    once as a warning, the recovery once as info."""

    name = "redis"

    def __init__(self, url: str, retry_after: float = REDIS_RETRY_SECONDS, timeout: float = REDIS_TIMEOUT_SECONDS):
        self.url = url
        self.retry_after = retry_after
        self._errors = (redis.RedisError, OSError)
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        except ValueError as e:
            raise ValidationError(f"REDIS_URL {redact(url)!r} is not a Redis URL: {e}") from None
        self._lock = threading.Lock()
        self._down_until: float | None = None  # monotonic time of the next attempt while down
        self.last_error: str | None = None

    def _available(self) -> bool:
        down = self._down_until
        return down is None or time.monotonic() >= down

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = time.monotonic() + self.retry_after
            self.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning("Redis cache at %s is unreachable (%s): serving without cache, retrying every %.0f s",
                        redact(self.url), self.last_error, self.retry_after)

    def _succeeded(self) -> None:
        if self._down_until is None:
            return
        with self._lock:
            if self._down_until is None:
                return
            self._down_until = None
        log.info("Redis cache at %s is reachable again", redact(self.url))

    def get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            value = self._client.get(key)
        except self._errors as e:
            self._failed(e)
            return None
        self._succeeded()
        return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0 or not self._available():
            return
        try:
            self._client.set(key, value, px=max(1, int(ttl * 1000)))
        except self._errors as e:
            self._failed(e)
            return
        self._succeeded()

    def clear(self) -> None:
        """Delete this engine's keys only (the Redis may be shared with other applications)."""
        if not self._available():
            return
        try:
            keys = list(self._client.scan_iter(match=f"{KEY_PREFIX}:*", count=500))
            for i in range(0, len(keys), 500):
                self._client.delete(*keys[i:i + 500])
        except self._errors as e:
            self._failed(e)

    @property
    def up(self) -> bool:
        return self._down_until is None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "url": redact(self.url), "up": self.up, "last_error": self.last_error}


# ---------------------------------------------------------------- serialising results

def _card_to_json(card: ProductCard) -> dict[str, Any]:
    d = asdict(card)
    d["created_at"] = card.created_at.isoformat() if card.created_at is not None else None
    return d


def recommendation_to_json(rec: Recommendation) -> dict[str, Any]:
    return {"product": _card_to_json(rec.product), "score": rec.score, "vector": rec.vector, "rank": rec.rank,
            "similarity": rec.similarity, "factors": dict(rec.factors), "reasons": list(rec.reasons),
            "relation": rec.relation}


def recommendation_from_json(d: dict[str, Any]) -> Recommendation:
    card = dict(d["product"])
    if card.get("created_at") is not None:
        card["created_at"] = datetime.fromisoformat(card["created_at"])
    return Recommendation(product=ProductCard(**card), score=d["score"], vector=d["vector"], rank=d["rank"],
                          similarity=d["similarity"], factors=dict(d["factors"]), reasons=list(d["reasons"]),
                          relation=d["relation"])


def recommendations_to_json(recs: Sequence[Recommendation]) -> list[dict[str, Any]]:
    return [recommendation_to_json(r) for r in recs]


def recommendations_from_json(items: Sequence[dict[str, Any]]) -> list[Recommendation]:
    return [recommendation_from_json(d) for d in items]


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
        self.db, self.store_of, self.ttl = db, store_of, ttl
        self._value: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._value[0] >= self.ttl:
                self._value = (now, index_version(self.db, self.store_of()))
            return self._value[1]

    def forget(self) -> None:
        self._value = None


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v) for v in value)
    return value


def cache_key(kind: str, params: dict[str, Any], config_fingerprint: str, index: str) -> str:
    """`vitrina:reco:v1:<config>:<index>:<kind>:<hash of the parameters>`: the versions lead, so every
    entry of an old config or index is unreachable at once."""
    body = json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]
    return f"{KEY_PREFIX}:{config_fingerprint[:16]}:{index}:{kind}:{digest}"


@dataclass
class RecoCache:
    """JSON payloads (recommendation lists and their context) in a backend, with one TTL."""

    backend: CacheBackend
    ttl: float
    stats: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0, "errors": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.backend.get(key)
        if raw is None:
            self._count("misses")
            return None
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._count("errors")
            log.warning("dropping an unreadable cache entry %s", key)
            return None
        self._count("hits")
        return value

    def put(self, key: str, payload: dict[str, Any]) -> None:
        try:
            raw = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as e:
            self._count("errors")
            log.warning("not caching %s: %s", key, e)
            return
        self.backend.set(key, raw, self.ttl)

    def clear(self) -> None:
        self.backend.clear()

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
        return RecoCache(NullCache(), 0.0)
    if settings.redis_url:
        return RecoCache(RedisCache(settings.redis_url), ttl)
    return RecoCache(TTLCache(max_entries), ttl)
