"""The Redis backend of the recommendation cache (engine.cache): the same contract as the in-process cache, and
an asynchronous read for the service.

The CLI, the console and library callers read and write through redis-py's blocking client. The HTTP service
looks cached lists up on its event loop through redis.asyncio (the same package): a blocking lookup would have to
run in the thread pool, and that hand-off cost a cache hit over HTTP twice the time of an in-process one. Both
clients read and write the same keys and bytes; an outage seen by either marks the cache down for both."""
from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.errors import ValidationError

log = logging.getLogger("engine.cache")  # one logger for the cache, whichever backend speaks

KEY_PREFIX = "vitrina:reco:v2"  # v2: lists cached as rendered items
REDIS_RETRY_SECONDS = 5.0  # how long an unreachable Redis is left alone before the next attempt
REDIS_TIMEOUT_SECONDS = 0.25  # a cache that answers slower than this is worse than no cache


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

    def __init__(self, url: str, ttl: float, retry_after: float = REDIS_RETRY_SECONDS,
                 timeout: float = REDIS_TIMEOUT_SECONDS):
        self.url, self.ttl = url, float(ttl)
        self.retry_after = retry_after
        redis = importlib.import_module("redis")  # here, not at the top: a command without REDIS_URL never needs it
        self._errors = (redis.RedisError, OSError, asyncio.TimeoutError)
        self._timeout = timeout
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        except ValueError as e:
            raise ValidationError(f"REDIS_URL {redact(url)!r} is not a Redis URL: {e}") from None
        self._lock = threading.Lock()
        # The asynchronous client, made on first use on an event loop: its connections belong to that loop.
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._aclient: Any = None
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

    async def aget(self, key: str) -> bytes | None:
        """get, awaited on the running event loop (redis.asyncio) instead of blocking a thread; the same
        outage handling: a failure marks the cache down and reads as a miss."""
        if not self._available():
            return None
        try:
            value = await self._async_client().get(key)
        except self._errors as e:
            self._failed(e)
            return None
        self._succeeded()
        return value

    def _async_client(self) -> Any:
        """The asynchronous client of the running loop. One loop serves a process's requests (uvicorn); another
        loop (a test client's, or a server restarted in the same process) gets a client of its own."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._aloop is not loop:
                aredis = importlib.import_module("redis.asyncio")
                self._aclient = aredis.Redis.from_url(self.url, socket_timeout=self._timeout,
                                                      socket_connect_timeout=self._timeout)
                self._aloop = loop
            return self._aclient

    async def aclose(self) -> None:
        """Close the asynchronous client's connections when it belongs to the running loop (at the service's
        shutdown, while its loop still runs)."""
        with self._lock:
            client = self._aclient if self._aloop is asyncio.get_running_loop() else None
            self._aclient = self._aloop = None
        if client is not None:
            try:
                await client.aclose()
            except self._errors:
                pass  # closing connections to a Redis that went away

    def set(self, key: str, value: bytes) -> None:
        if self.ttl <= 0 or not self._available():
            return
        try:
            self._client.set(key, value, px=max(1, int(self.ttl * 1000)))
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
