"""The HTTP service: a small Starlette app over the Recommender facade.

    python -m engine serve --host 127.0.0.1 --port 8000        (or any ASGI server: create_app is a factory)

It serves the exported config (VITRINA_CONFIG or config_path) and picks up a new export by itself: the file
is checked at most once a second, a valid new version replaces the old one between requests, and an
invalid one is refused with a logged error while the old version keeps serving. Lists are cached (see
engine/cache.py) under keys that carry the config fingerprint and the index version, so a new config or a
reindex is never answered from stale entries. Every served list is logged as impressions in one batch, with
the request id, so clicks can be attributed to the list that earned them; one writer thread does the writing,
off the request path.

Every parameter of every endpoint is declared once (`_endpoints`): the same declarations validate the
requests and write /openapi.json, so the document cannot drift from what the service accepts. Errors are
JSON {"error", "message", "request_id"}: 400 for a bad parameter, 404 for an unknown product, 413 for an
oversized body, 503 when the index or the store is not usable.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.cache import (RecoCache, cache_key, make_cache, recommendations_from_json, recommendations_to_json)
from engine.recommend.config import RecoConfig, fingerprint
from engine.errors import ConfigError, EncoderMismatch, InvalidImage, NotFound, ValidationError, VitrinaError
from engine.insights.events import EVENT_KINDS, Event, EventLog
from engine.settings import Settings
from engine.types import Filters, Recommendation

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
RELOAD_CHECK_SECONDS = 1.0  # the config file is stat-ed at most this often
MAX_EVENTS_BODY_BYTES = 1024 * 1024
MAX_EVENTS_PER_REQUEST = 1000
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the uploaded image
MAX_TEXT_PARAM = 128  # user_id, session_id: the event log's column widths
MAX_LIST_ITEMS = 50
CATEGORY_MAP_SECONDS = 60.0  # category path → id map reuse
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_INT = re.compile(r"^[+-]?\d{1,18}$")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class PayloadTooLarge(VitrinaError):
    """A request body over its limit (413)."""


# ---------------------------------------------------------------- parameter declarations

@dataclass(frozen=True)
class Param:
    """One query or path parameter: how it is validated and how /openapi.json describes it."""

    name: str
    kind: str  # int | number | bool | string | list
    description: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    location: str = "query"  # query | path

    def schema(self) -> dict[str, Any]:
        base = {"int": {"type": "integer"}, "number": {"type": "number"}, "bool": {"type": "boolean"},
                "string": {"type": "string", "minLength": 1},
                "list": {"type": "array", "items": {"type": "string", "minLength": 1},
                         "maxItems": MAX_LIST_ITEMS}}[self.kind]
        s = dict(base)
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        if self.max_length is not None:
            s["maxLength"] = self.max_length
        if self.default is not None:
            s["default"] = self.default
        return s

    def openapi(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "in": self.location,
                             "required": self.required or self.location == "path",
                             "description": self.description, "schema": self.schema()}
        if self.kind == "list":
            d["style"], d["explode"] = "form", True
            d["description"] += " Repeat the parameter or separate values with commas."
        return d

    def parse(self, raw: list[str]) -> Any:
        if self.kind == "list":
            values = [v.strip() for r in raw for v in r.split(",")]
            if any(not v for v in values):
                raise ValidationError(f"{self.name} has an empty value")
            if len(values) > MAX_LIST_ITEMS:
                raise ValidationError(f"{self.name} has {len(values)} values; the limit is {MAX_LIST_ITEMS}")
            return values
        if len(raw) > 1:
            raise ValidationError(f"{self.name} is given {len(raw)} times; give it once")
        text = raw[0].strip()
        if self.kind == "int":
            if not _INT.match(text):
                raise ValidationError(f"{self.name} must be a whole number, got {raw[0]!r}")
            value: Any = int(text)
        elif self.kind == "number":
            try:
                value = float(text)
            except ValueError:
                raise ValidationError(f"{self.name} must be a number, got {raw[0]!r}") from None
            if not math.isfinite(value):
                raise ValidationError(f"{self.name} must be a finite number, got {raw[0]!r}")
        elif self.kind == "bool":
            low = text.lower()
            if low not in _TRUE | _FALSE:
                raise ValidationError(f"{self.name} must be true or false, got {raw[0]!r}")
            value = low in _TRUE
        else:
            if not text:
                raise ValidationError(f"{self.name} is empty")
            value = text
        if self.minimum is not None and value < self.minimum:
            raise ValidationError(f"{self.name} must be at least {self.minimum:g}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValidationError(f"{self.name} must be at most {self.maximum:g}, got {value}")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(f"{self.name} must be at most {self.max_length} characters")
        return value


def _filter_params() -> tuple[Param, ...]:
    return (
        Param("category", "string", "Category id or path (Men/Tops/Jackets): only products in its subtree."),
        Param("price_min", "number", "Lowest price.", minimum=0),
        Param("price_max", "number", "Highest price.", minimum=0),
        Param("color", "list", "Colour names; any of them matches."),
        Param("in_stock", "bool", "Only products in stock.", default=False),
    )


def _context_params() -> tuple[Param, ...]:
    return (
        Param("session_id", "string", "Shopper session, recorded with the impressions of the list.",
              max_length=MAX_TEXT_PARAM),
        Param("user_id", "string", "Signed-in shopper, recorded with the impressions of the list.",
              max_length=MAX_TEXT_PARAM),
    )


def _limit(settings: Settings, default: int = 12) -> Param:
    return Param("limit", "int", "How many products.", default=default, minimum=1, maximum=settings.max_results)


def _strategy() -> Param:
    return Param("strategy", "string", "Reranking strategy of the config (default: its default_strategy).",
                 max_length=64)


def _product_path() -> Param:
    return Param("id", "string", "Product id or SKU.", required=True, location="path", max_length=128)


def _product_query(description: str = "Source product: id or SKU.") -> Param:
    return Param("product_id", "string", description, required=True, max_length=128)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    name: str
    summary: str
    params: tuple[Param, ...]
    response: str  # component schema name
    errors: tuple[int, ...]
    body: dict[str, Any] | None = None  # OpenAPI requestBody
    status: int = 200


def parse_params(request: Request, params: Sequence[Param]) -> dict[str, Any]:
    """Validated parameters by name (defaults filled in); unknown, repeated or bad ones are a 400."""
    known = {p.name: p for p in params if p.location == "query"}
    unknown = sorted(set(request.query_params.keys()) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ValidationError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                              f"(allowed: {allowed})")
    out: dict[str, Any] = {}
    for p in params:
        if p.location == "path":
            raw = [request.path_params[p.name]]
        else:
            raw = request.query_params.getlist(p.name)
        if not raw:
            if p.required:
                raise ValidationError(f"{p.name} is required")
            out[p.name] = p.default
            continue
        out[p.name] = p.parse(raw)
    return out


# ---------------------------------------------------------------- the config, reloaded when it changes

@dataclass
class _Loaded:
    config: RecoConfig
    fingerprint: str
    signature: tuple | None  # (mtime_ns, size, inode) of the file it came from


class ConfigWatcher:
    """The config in use, replaced when its file changes and the new document is valid."""

    def __init__(self, path: str | None, check_every: float = RELOAD_CHECK_SECONDS):
        self.path = Path(path) if path else None
        self.check_every = check_every
        self._lock = threading.Lock()
        self._last_check = time.monotonic()
        self.error: str | None = None  # why the file on disk is not the config in use
        self._refused: tuple | None = None
        if self.path is None:
            config = RecoConfig.default()
            self.current = _Loaded(config, fingerprint(config), None)
        else:
            sig = self._signature()
            config = RecoConfig.load(self.path)  # an invalid config at start-up is fatal: ConfigError
            self.current = _Loaded(config, fingerprint(config), sig)

    def _signature(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def due(self) -> bool:
        return self.path is not None and time.monotonic() - self._last_check >= self.check_every

    def check(self) -> bool:
        """Reload when due and changed; True when a new config was taken."""
        if not self.due():
            return False
        with self._lock:
            if time.monotonic() - self._last_check < self.check_every:
                return False
            self._last_check = time.monotonic()
            sig = self._signature()
            if sig == self.current.signature or sig == self._refused:
                return False
            if sig is None:
                self._refused = None
                self.error = f"config file {self.path} is gone; still serving version {self.current.config.version}"
                log.error(self.error)
                self.current = replace(self.current, signature=None)
                return False
            try:
                config = RecoConfig.load(self.path)
            except ConfigError as e:
                self._refused = sig
                self.error = f"refused the new config in {self.path}; still serving version " \
                             f"{self.current.config.version}: {e}"
                log.error(self.error)
                return False
            old = self.current.config.version
            self.current = _Loaded(config, fingerprint(config), sig)
            self.error, self._refused = None, None
            log.info("config reloaded from %s: version %s (was %s)", self.path, config.version, old)
            return True


# ---------------------------------------------------------------- the service

@dataclass
class Served:
    """A list ready to answer: the results and what to say and log about them."""

    items: list[Recommendation]
    algorithm: str
    strategy: str | None
    cached: bool = False
    source_product_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Service:
    """The parts behind the routes: runtime, config watcher, cache, event log. Thread-safe; the blocking
    work runs in Starlette's thread pool."""

    def __init__(self, settings: Settings | None = None, config_path: str | None = None):
        from engine.runtime import shared

        self.settings = settings or Settings()
        path = config_path if config_path is not None else (self.settings.config_path or None)
        self.watcher = ConfigWatcher(path)
        # The process-wide runtime of this data location: the embedded store admits one opener per process,
        # so a console or a job in the same process shares it instead of failing to open it.
        self.runtime = shared(self.settings)
        self.cache: RecoCache = make_cache(self.settings)
        self.events = EventLog(self.runtime.db)
        self.impressions = ImpressionWriter(self.events)
        self._recommender = None
        self._built_for: str | None = None  # fingerprint the recommender was built with
        self._lock = threading.Lock()
        self._categories: tuple[float, dict[str, int]] | None = None

    # ---- parts --------------------------------------------------------------------------------------
    @property
    def config(self) -> RecoConfig:
        return self.watcher.current.config

    def recommender(self):
        """The recommender of the config in use, rebuilt (sharing store, catalog and encoders) when the
        config file changed, or after close()."""
        self.watcher.check()
        loaded = self.watcher.current
        with self._lock:
            if self._recommender is None or self._built_for != loaded.fingerprint:
                self._recommender, self._built_for = self.runtime.recommender(loaded.config), loaded.fingerprint
            return self._recommender

    def index_version(self) -> str:
        self.watcher.check()  # a changed config file is taken before the version keys anything
        return self.runtime.index_version()

    def close(self) -> None:
        """Write the queued impressions and release the vector store (shared by the Runtimes of this
        process on the same location); a later request reopens it."""
        self.impressions.close()
        self.runtime.close()

    def category_id(self, key: str) -> int:
        """A category parameter (id or path) as an id; an unknown one is a bad parameter."""
        now = time.monotonic()
        cached = self._categories
        if cached is None or now - cached[0] > CATEGORY_MAP_SECONDS or key not in cached[1]:
            nodes = self.runtime.catalog.categories()
            table: dict[str, int] = {}
            for n in nodes:
                table[str(n.id)] = n.id
                table[n.path] = n.id
                table[n.path.casefold()] = n.id
                table[n.label] = n.id
            cached = self._categories = (now, table)
        norm = "/".join(p.strip() for p in key.replace(" > ", "/").split("/") if p.strip())
        for k in (key, norm, norm.casefold()):
            if k in cached[1]:
                return cached[1][k]
        raise ValidationError(f"unknown category {key!r}: give a category id or a path such as Men/Tops/Jackets")

    def filters(self, p: dict[str, Any]) -> Filters:
        f = Filters(category_ids=[self.category_id(p["category"])] if p.get("category") else [],
                    price_min=p.get("price_min"), price_max=p.get("price_max"), colours=list(p.get("color") or []),
                    in_stock=bool(p.get("in_stock")))
        return f.validate()

    def strategy(self, name: str | None) -> str:
        config = self.config
        name = name or config.default_strategy
        if name not in config.strategies:
            raise ValidationError(f"unknown strategy {name!r} (known: {', '.join(config.strategies)})")
        return name

    # ---- cache --------------------------------------------------------------------------------------
    def cached_list(self, kind: str, key_params: dict[str, Any],
                    compute: Callable[[], Served]) -> Served:
        """The list from the cache, or computed and cached."""
        if not self.cache.enabled:
            return compute()
        index = self.index_version()  # first: it also takes a changed config file
        key = cache_key(kind, key_params, self.watcher.current.fingerprint, index)
        hit = self.cache.get(key)
        if hit is not None:
            try:
                return Served(recommendations_from_json(hit["items"]), hit["algorithm"], hit["strategy"], True,
                              hit["source_product_id"], hit["extra"])
            except (KeyError, TypeError, ValueError) as e:
                log.warning("ignoring a cache entry of another shape (%s): %s", key, e)
        served = compute()
        self.cache.put(key, {"items": recommendations_to_json(served.items), "algorithm": served.algorithm,
                             "strategy": served.strategy, "source_product_id": served.source_product_id,
                             "extra": served.extra})
        return served

    # ---- impressions --------------------------------------------------------------------------------
    def log_impressions(self, served: Served, request_id: str, session_id: str | None, user_id: str | None,
                        filters: dict[str, Any]) -> None:
        """Queue the list's impressions for the writer thread (one batch per list)."""
        if not served.items:
            return
        self.impressions.submit(dict(
            served=[(r.product.id, i, float(r.score)) for i, r in enumerate(served.items)],
            session_id=session_id or f"request-{request_id}", algorithm=served.algorithm, user_id=user_id,
            strategy=served.strategy, source_product_id=served.source_product_id,
            filters={"request_id": request_id, **{k: v for k, v in filters.items() if v not in (None, [], False)}}))


class ImpressionWriter:
    """Writes impressions from one thread, off the request path: a response never waits for the event log,
    and the request threads never contend for SQLite's single write lock. Each list is still one
    `EventLog.log_impressions` batch; a full queue (the database far behind) drops lists with a warning
    rather than slowing shoppers down."""

    def __init__(self, events: EventLog, max_queued: int = 10_000):
        import queue

        self.events = events
        self._queue: "queue.Queue[dict[str, Any] | None]" = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.written = self.dropped = self.failed = 0

    def submit(self, job: dict[str, Any]) -> None:
        import queue

        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="vitrina-impressions", daemon=True)
                    self._thread.start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("impression queue full: %d lists dropped so far", self.dropped)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self.events.log_impressions(**job)
                self.written += 1
            except Exception:  # noqa: BLE001 - the shopper already has the list; the log must not stop
                self.failed += 1
                log.exception("could not log the impressions of request %s", job["filters"].get("request_id"))
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued list is written; False when the timeout passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self.flush(timeout)
            self._queue.put(None)
            thread.join(timeout)
        self._thread = None

    def status(self) -> dict[str, int]:
        return {"queued": self._queue.qsize(), "written": self.written, "dropped": self.dropped,
                "failed": self.failed}


# ---------------------------------------------------------------- responses

def item_json(rec: Recommendation) -> dict[str, Any]:
    p = rec.product
    return {"id": p.id, "sku": p.sku, "title": p.title, "price": p.price, "colour": p.colour,
            "category": p.category, "category_path": p.category_path, "image": p.image, "score": rec.score,
            "reasons": list(rec.reasons), "rank": rec.rank, "vector": rec.vector, "relation": rec.relation}


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _error(status: int, exc: Exception | str, request: Request, name: str | None = None) -> JSONResponse:
    rid = getattr(request.state, "request_id", None) or _request_id(request)
    body = {"error": name or type(exc).__name__, "message": str(exc), "request_id": rid}
    if isinstance(exc, ConfigError) and exc.errors:
        body["errors"] = exc.errors
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": rid})


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return _error(400, exc, request)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return _error(404, exc, request)


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return _error(413, exc, request)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("request %s: %s", request.url.path, exc)
    return _error(503, exc, request)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail, request, name="HTTPError")


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request %s failed", request.url.path, exc_info=exc)
    return _error(500, "internal error: the service log has the details", request, name="InternalError")


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
    PayloadTooLarge: _too_large,
    ValidationError: _bad_request,  # InvalidImage included: a corrupt or non-image upload
    NotFound: _not_found,
    EncoderMismatch: _unavailable,
    ConfigError: _unavailable,
    VitrinaError: _unavailable,  # the index is empty, the store is locked or closed
    HTTPException: _http_error,
    Exception: _internal,
}


# ---------------------------------------------------------------- request bodies

async def _read_body(request: Request, limit: int, what: str) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (before reading it when the length is declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{what} is {int(declared)} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} is over {limit} bytes; the limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload(request: Request, max_bytes: int) -> bytes:
    """The bytes of the multipart field "image", the only field accepted."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ValidationError("send the photo as multipart/form-data with the field \"image\"")
    body = await _read_body(request, max_bytes + MULTIPART_OVERHEAD_BYTES, "the upload")

    async def stream():
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=1).parse()
    except MultiPartException as e:
        raise ValidationError(f"unreadable multipart body: {e.message}") from None
    try:
        extra = sorted(k for k in form.keys() if k != "image")
        if extra:
            raise ValidationError(f"unknown form field{'s' if len(extra) > 1 else ''} {', '.join(extra)}: "
                                  f"send only \"image\"")
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise ValidationError("the form has no file field \"image\"")
        data = await image.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the photo is over {max_bytes} bytes; the limit is {max_bytes} bytes")
    if not data:
        raise InvalidImage("the uploaded image is empty")
    return data


_EVENT_FIELDS = {"kind", "session_id", "product_id", "sku", "ts", "user_id", "source_product_id", "query",
                 "algorithm", "strategy", "position", "score", "filters", "experiment", "variant", "event_id"}
MAX_EVENT_AGE = timedelta(days=365 * 5)
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _event_ts(value: Any, where: str) -> datetime | None:
    from engine.insights.events import to_utc_naive, utc_now

    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{where}: ts must be ISO 8601 text or epoch milliseconds, got {value!r}")
    if isinstance(value, int):
        ts = datetime(1970, 1, 1) + timedelta(milliseconds=value) if 946_684_800_000 <= value < 10 ** 14 else None
        if ts is None:
            raise ValidationError(f"{where}: ts {value} is not epoch milliseconds after 2000")
    elif isinstance(value, str):
        try:
            ts = to_utc_naive(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise ValidationError(f"{where}: ts {value!r} is not ISO 8601") from None
    else:
        raise ValidationError(f"{where}: ts must be ISO 8601 text or epoch milliseconds, got {value!r}")
    now = utc_now()
    if ts > now + MAX_CLOCK_SKEW:
        raise ValidationError(f"{where}: ts {ts.isoformat()} is in the future")
    if ts < now - MAX_EVENT_AGE:
        raise ValidationError(f"{where}: ts {ts.isoformat()} is more than five years old; import old logs "
                              f"with `python -m engine import-events`")
    return ts


def _events_from_json(data: Any, catalog) -> list[Event]:
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ValidationError("the body is an empty list: send one event or a list of events")
    if len(items) > MAX_EVENTS_PER_REQUEST:
        raise PayloadTooLarge(f"{len(items)} events in one request; the limit is {MAX_EVENTS_PER_REQUEST}")
    out = []
    for i, obj in enumerate(items):
        where = f"event {i}"
        if not isinstance(obj, dict):
            raise ValidationError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - _EVENT_FIELDS)
        if unknown:
            raise ValidationError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        if ("product_id" in obj) == ("sku" in obj):
            raise ValidationError(f"{where}: give product_id or sku (exactly one)")
        if "sku" in obj:
            if not isinstance(obj["sku"], str):
                raise ValidationError(f"{where}: sku must be text, got {obj['sku']!r}")
            product_id = catalog.get(obj["sku"]).id  # NotFound: 404 for an unknown product
        else:
            product_id = obj["product_id"]
            if isinstance(product_id, str) or isinstance(product_id, float):
                raise ValidationError(f"{where}: product_id must be a whole number, got {product_id!r}")
        event_id = obj.get("event_id")
        if event_id is not None and (not isinstance(event_id, str) or not _REQUEST_ID.match(event_id)):
            raise ValidationError(f"{where}: event_id must be 1-64 letters, digits or ._:- , got {event_id!r}")
        kind = obj.get("kind")
        if kind not in EVENT_KINDS:
            raise ValidationError(f"{where}: kind must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
        ev = Event(kind, obj.get("session_id"), product_id, ts=_event_ts(obj.get("ts"), where),
                   user_id=obj.get("user_id"), source_product_id=obj.get("source_product_id"),
                   query=obj.get("query"), algorithm=obj.get("algorithm"), strategy=obj.get("strategy"),
                   position=obj.get("position"), score=obj.get("score"), filters=obj.get("filters"),
                   experiment=obj.get("experiment"), variant=obj.get("variant"),
                   external_id=f"api:{event_id}" if event_id else None)
        try:
            ev.validate()
        except ValidationError as e:
            raise ValidationError(f"{where}: {e}") from None
        out.append(ev)
    return out


# ---------------------------------------------------------------- the app

def _served_json(served: Served, service: Service, rid: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"items": [item_json(r) for r in served.items], "algorithm": served.algorithm,
            "strategy": served.strategy, "config_version": service.config.version, "cached": served.cached,
            "request_id": rid, **served.extra, **(extra or {})}


def _respond(service: Service, served: Served, rid: str, params: dict[str, Any],
             extra: dict[str, Any] | None = None) -> JSONResponse:
    log_filters = {k: params.get(k) for k in ("category", "price_min", "price_max", "color", "in_stock")
                   if k in params}
    service.log_impressions(served, rid, params.get("session_id"), params.get("user_id"), log_filters)
    return JSONResponse(_served_json(served, service, rid, extra), headers={"X-Request-Id": rid})


def create_app(settings: Settings | None = None, config_path: str | None = None) -> Starlette:
    """The ASGI app. Loads the config now (an invalid one raises ConfigError); opens the store and the
    encoders at start-up, so the first request does not pay for them."""
    settings = settings or Settings()
    service = Service(settings, config_path)
    endpoints = _endpoints(settings)
    handlers = _handlers(service)

    def wrap(ep: Endpoint):
        handler = handlers[ep.name]

        async def endpoint(request: Request):
            request.state.request_id = rid = _request_id(request)
            if service.watcher.due():  # parameters are checked against the config this request is served with
                await run_in_threadpool(service.watcher.check)
            params = parse_params(request, ep.params)
            return await handler(request, params, rid)

        endpoint.__name__ = ep.name
        return endpoint

    routes = [Route(ep.path, wrap(ep), methods=[ep.method], name=ep.name) for ep in endpoints]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            await run_in_threadpool(service.recommender)
        except VitrinaError as e:
            log.error("starting without a usable index: %s", e)
        yield
        await run_in_threadpool(service.close)

    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.service = service
    app.state.endpoints = endpoints
    app.state.openapi = openapi_document(endpoints, settings)
    return app


def _handlers(service: Service) -> dict[str, Callable[[Request, dict[str, Any], str], Awaitable[Any]]]:
    """The endpoint bodies by name; parameters arrive validated."""

    def similar(p: dict[str, Any], by: str) -> Served:
        strategy = service.strategy(p["strategy"])
        filters = service.filters(p)
        key = {k: p.get(k) for k in ("id", "limit", "strategy", "exclude_same_brand", "exclude_same_style",
                                     "category", "price_min", "price_max", "color", "in_stock")}

        def compute() -> Served:
            rec = service.recommender()
            source = rec.catalog.get(p["id"])  # NotFound → 404
            items = rec.similar(source.id, by=by, n=p["limit"], filters=filters, strategy=strategy,
                                exclude_same_brand=bool(p["exclude_same_brand"]),
                                exclude_same_style=bool(p["exclude_same_style"]))
            return Served(items, f"vector_{by}", strategy, source_product_id=source.id)

        return service.cached_list(f"similar-{by}", {**key, "strategy": strategy}, compute)

    async def similar_combined(request, p, rid):
        return _respond(service, await run_in_threadpool(similar, p, "combined"), rid, p)

    async def similar_visual(request, p, rid):
        return _respond(service, await run_in_threadpool(similar, p, "image"), rid, p)

    async def search_by_image(request, p, rid):
        data = await _upload(request, service.settings.max_upload_bytes)
        strategy = service.strategy(p["strategy"])

        def run() -> Served:
            filters = service.filters(p)
            key = {"image": hashlib.sha256(data).hexdigest(), "limit": p["limit"], "strategy": strategy,
                   **{k: p.get(k) for k in ("category", "price_min", "price_max", "color", "in_stock")}}
            return service.cached_list("search-image", key, lambda: Served(
                service.recommender().search_by_image(data, n=p["limit"], filters=filters, strategy=strategy),
                "search_image", strategy))

        return _respond(service, await run_in_threadpool(run), rid, p)

    async def personalized(request, p, rid):
        from engine.recommend.personal import SERVED_PERSONALISED

        def run() -> tuple[Served, dict[str, Any]]:
            rec = service.recommender()
            result = rec.personalised(p["user_id"], n=p["limit"], filters=service.filters(p),
                                  not_like=p["not_like"] or ())
            is_personal = result.served == SERVED_PERSONALISED
            profile = None
            if result.profile is not None:
                profile = {"events": result.profile.events, "price_band": result.profile.price_band,
                           "categories": {str(k): round(v, 4) for k, v in result.profile.categories.items()}}
            return (Served(result.items, "personalised" if is_personal else "trending",
                           service.config.default_strategy if is_personal else None),
                    {"served": result.served, "reason": result.reason, "profile": profile})

        served, extra = await run_in_threadpool(run)
        return _respond(service, served, rid, p, extra)

    async def complete_the_look(request, p, rid):
        def run() -> Served:
            filters = service.filters(p)
            key = {k: p.get(k) for k in ("product_id", "per_relation", "price_min", "price_max", "color",
                                         "in_stock")}

            def compute() -> Served:
                from engine.recommend.looks import LOOK_STRATEGY

                rec = service.recommender()
                source = rec.catalog.get(p["product_id"])
                items = rec.complete_the_look(source.id, n_per_relation=p["per_relation"], filters=filters)
                return Served(items, "complete_the_look", LOOK_STRATEGY.name, source_product_id=source.id)

            return service.cached_list("complete-the-look", key, compute)

        return _respond(service, await run_in_threadpool(run), rid, p)

    async def trending(request, p, rid):
        def run() -> Served:
            filters = service.filters(p)
            key = {k: p.get(k) for k in ("limit", "category", "price_min", "price_max", "color", "in_stock")}
            return service.cached_list("trending", key, lambda: Served(
                service.recommender().trending(p["limit"], filters=filters), "trending", None))

        return _respond(service, await run_in_threadpool(run), rid, p)

    async def fbt(request, p, rid):

        def run() -> Served:
            filters = service.filters(p)
            key = {k: p.get(k) for k in ("product_id", "limit", "min_support", "min_confidence", "min_lift",
                                         "price_min", "price_max", "color", "in_stock", "category")}

            def compute() -> Served:
                rec = service.recommender()
                result = rec.frequently_bought_together(p["product_id"], n=p["limit"],
                                                    min_support=p["min_support"],
                                                    min_confidence=p["min_confidence"], min_lift=p["min_lift"],
                                                    filters=filters)
                return Served(result.items, "fbt", None, source_product_id=rec.catalog.get(p["product_id"]).id,
                              extra={"source": result.source, "reason": result.reason, "baskets": result.baskets})

            return service.cached_list("fbt", key, compute)

        return _respond(service, await run_in_threadpool(run), rid, p)

    async def post_events(request, p, rid):
        body = await _read_body(request, MAX_EVENTS_BODY_BYTES, "the events body")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValidationError(f"the body is not JSON: {e}") from None

        def run() -> int:
            return service.events.log_many(_events_from_json(data, service.runtime.catalog))

        inserted = await run_in_threadpool(run)
        count = len(data) if isinstance(data, list) else 1
        return JSONResponse({"received": count, "inserted": inserted, "duplicates": count - inserted,
                             "request_id": rid}, status_code=201, headers={"X-Request-Id": rid})

    async def not_like_list(request, p, rid):
        ids = await run_in_threadpool(lambda: service.recommender().profiles.dislikes(p["user_id"]))
        return JSONResponse({"user_id": p["user_id"], "not_like": ids, "request_id": rid},
                            headers={"X-Request-Id": rid})

    async def not_like_add(request, p, rid):
        body = await _read_body(request, 4096, "the body")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValidationError(f"the body is not JSON: {e}") from None
        if not isinstance(data, dict) or set(data) != {"product_id"} or isinstance(data["product_id"], bool) \
                or not isinstance(data["product_id"], (int, str)):
            raise ValidationError('send {"product_id": <product id or sku>}')

        def run() -> list[int]:
            rec = service.recommender()
            product = rec.catalog.get(data["product_id"])
            store = rec.profiles
            store.dislike(p["user_id"], product.id)
            return store.dislikes(p["user_id"])

        ids = await run_in_threadpool(run)
        return JSONResponse({"user_id": p["user_id"], "not_like": ids, "request_id": rid}, status_code=201,
                            headers={"X-Request-Id": rid})

    async def not_like_remove(request, p, rid):
        def run() -> list[int]:
            rec = service.recommender()
            product = rec.catalog.get(p["product"])
            store = rec.profiles
            if not store.undislike(p["user_id"], product.id):
                raise NotFound(f"user {p['user_id']} has not marked {product.sku} as \"not like this\"")
            return store.dislikes(p["user_id"])

        ids = await run_in_threadpool(run)
        return JSONResponse({"user_id": p["user_id"], "not_like": ids, "request_id": rid},
                            headers={"X-Request-Id": rid})

    async def health(request, p, rid):
        def run() -> tuple[int, dict[str, Any]]:
            body: dict[str, Any] = {"status": "ok", "config_version": service.config.version,
                                    "config_fingerprint": service.watcher.current.fingerprint[:16],
                                    "config_path": str(service.watcher.path) if service.watcher.path else None,
                                    "config_error": service.watcher.error, "cache": service.cache.status(),
                                    "impressions": service.impressions.status()}
            try:
                rec = service.recommender()
                spec = rec.store.spec()
                if spec is None:
                    raise VitrinaError("the vector index is empty: run `python -m engine index`")
                body.update(products=rec.store.count(Filters(active_only=False)), backend=rec.store.backend,
                            index_version=service.index_version(),
                            encoders={"text": spec.text_encoder, "image": spec.image_encoder})
                return 200, body
            except VitrinaError as e:
                body.update(status="unavailable", error=str(e))
                return 503, body

        status, body = await run_in_threadpool(run)
        return JSONResponse({**body, "request_id": rid}, status_code=status, headers={"X-Request-Id": rid})

    async def openapi(request, p, rid):
        return JSONResponse(request.app.state.openapi)

    return {"similar": similar_combined, "visually_similar": similar_visual, "search_by_image": search_by_image,
            "personalized": personalized, "complete_the_look": complete_the_look, "trending": trending,
            "frequently_bought_together": fbt, "events": post_events, "not_like_list": not_like_list,
            "not_like_add": not_like_add, "not_like_remove": not_like_remove, "health": health,
            "openapi": openapi}


def _endpoints(settings: Settings) -> list[Endpoint]:
    from engine.recommend.fbt import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LIFT, DEFAULT_MIN_SUPPORT

    similar_params = (_product_path(), _limit(settings), _strategy(),
                      Param("exclude_same_brand", "bool", "Leave out the source's brand.", default=False),
                      Param("exclude_same_style", "bool", "Leave out other colours and sizes of the source's style.",
                            default=False),
                      *_filter_params(), *_context_params())
    user_path = Param("user_id", "string", "Shopper id.", required=True, location="path", max_length=MAX_TEXT_PARAM)
    return [
        Endpoint("GET", "/api/products/{id}/similar/", "similar",
                 "Products similar to a product (combined text and photo vectors), reranked.", similar_params,
                 "RecommendationList", (400, 404, 503)),
        Endpoint("GET", "/api/products/{id}/visually_similar/", "visually_similar",
                 "Products whose photos look like the product's photo.", similar_params,
                 "RecommendationList", (400, 404, 503)),
        Endpoint("POST", "/api/recommendations/search_by_image/", "search_by_image",
                 "Products that look like an uploaded photo (multipart field \"image\").",
                 (_limit(settings), _strategy(), *_filter_params(), *_context_params()),
                 "RecommendationList", (400, 413, 503),
                 body={"required": True, "content": {"multipart/form-data": {"schema": {
                     "type": "object", "required": ["image"], "additionalProperties": False,
                     "properties": {"image": {"type": "string", "contentMediaType": "application/octet-stream",
                                              "description": f"JPEG, PNG, WebP or GIF, at most "
                                                             f"{settings.max_upload_bytes} bytes."}}}}}}),
        Endpoint("GET", "/api/recommendations/personalized/", "personalized",
                 "Products for a shopper from their events; trending for anonymous shoppers and cold starts.",
                 (Param("user_id", "string", "Shopper; absent = anonymous (trending).", max_length=MAX_TEXT_PARAM),
                  _limit(settings),
                  Param("not_like", "list", "Products (ids or SKUs) to move away from in this request."),
                  *_filter_params(),
                  Param("session_id", "string", "Shopper session, recorded with the impressions of the list.",
                        max_length=MAX_TEXT_PARAM)),
                 "PersonalisedList", (400, 404, 503)),
        Endpoint("GET", "/api/recommendations/complete_the_look/", "complete_the_look",
                 "The best items of each complementary category of a product (the config's map).",
                 (_product_query(), Param("per_relation", "int", "At most this many items per relation "
                                          "(default: each relation's max_items).", minimum=1,
                                          maximum=settings.max_results),
                  Param("price_min", "number", "Lowest price.", minimum=0),
                  Param("price_max", "number", "Highest price.", minimum=0),
                  Param("color", "list", "Colour names; any of them matches."),
                  Param("in_stock", "bool", "Only products in stock.", default=False), *_context_params()),
                 "RecommendationList", (400, 404, 503)),
        Endpoint("GET", "/api/recommendations/trending/", "trending",
                 "The most popular products now (time-decayed events).",
                 (_limit(settings), *_filter_params(), *_context_params()), "RecommendationList", (400, 503)),
        Endpoint("GET", "/api/recommendations/frequently_bought_together/", "frequently_bought_together",
                 "Products carted or bought in the same sessions; complete the look where the log is too thin.",
                 (_product_query(), _limit(settings, 6),
                  Param("min_support", "int", "Baskets that must hold both products.", default=DEFAULT_MIN_SUPPORT,
                        minimum=1, maximum=1_000_000),
                  Param("min_confidence", "number", "Share of the product's baskets that must hold the other.",
                        default=DEFAULT_MIN_CONFIDENCE, minimum=0, maximum=1),
                  Param("min_lift", "number", "Confidence over the other's basket share (1 = chance).",
                        default=DEFAULT_MIN_LIFT, minimum=0, maximum=1_000_000),
                  *_filter_params(), *_context_params()),
                 "FBTList", (400, 404, 503)),
        Endpoint("POST", "/api/events/", "events", "Log shopper events: one JSON object or a list of them.", (),
                 "EventsResult", (400, 404, 413), status=201,
                 body={"required": True, "content": {"application/json": {"schema": {"oneOf": [
                     {"$ref": "#/components/schemas/Event"},
                     {"type": "array", "minItems": 1, "maxItems": MAX_EVENTS_PER_REQUEST,
                      "items": {"$ref": "#/components/schemas/Event"}}]}}}}),
        Endpoint("GET", "/api/users/{user_id}/not_like/", "not_like_list",
                 "The products a shopper marked \"not like this\", most recent first.", (user_path,),
                 "NotLike", (400,)),
        Endpoint("POST", "/api/users/{user_id}/not_like/", "not_like_add",
                 "Mark a product \"not like this\": personalised lists move away from it.", (user_path,),
                 "NotLike", (400, 404, 413), status=201,
                 body={"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["product_id"], "additionalProperties": False,
                     "properties": {"product_id": {"oneOf": [{"type": "integer"}, {"type": "string"}],
                                                   "description": "Product id or SKU."}}}}}}),
        Endpoint("DELETE", "/api/users/{user_id}/not_like/{product}/", "not_like_remove",
                 "Take back a \"not like this\".",
                 (user_path, Param("product", "string", "Product id or SKU.", required=True, location="path",
                                   max_length=128)), "NotLike", (400, 404)),
        Endpoint("GET", "/health", "health", "Whether the index, store and config are usable; cache state.",
                 (), "Health", (503,)),
        Endpoint("GET", "/openapi.json", "openapi", "This document.", (), "OpenAPI", ()),
    ]


# ---------------------------------------------------------------- the OpenAPI document

_ERROR_TEXT = {400: "A parameter or the body is invalid.", 404: "Unknown product (or route).",
               413: "The body is over its size limit.", 503: "The index, store or config is not usable."}


def _schemas(settings: Settings) -> dict[str, Any]:
    num = {"type": "number"}
    text = {"type": "string"}
    nullable = lambda s: {"oneOf": [s, {"type": "null"}]}  # noqa: E731
    item = {"type": "object", "required": ["id", "sku", "title", "price", "score", "reasons", "rank"],
            "properties": {"id": {"type": "integer"}, "sku": text, "title": text, "price": num,
                           "colour": nullable(text), "category": nullable(text), "category_path": nullable(text),
                           "image": nullable(text), "score": num,
                           "reasons": {"type": "array", "items": text}, "rank": {"type": "integer", "minimum": 1},
                           "vector": {"type": "string", "description": "text, image, combined, trending or fbt"},
                           "relation": nullable(text)}}
    listing = {"type": "object", "required": ["items", "algorithm", "strategy", "config_version", "cached",
                                              "request_id"],
               "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                              "algorithm": text, "strategy": nullable(text), "config_version": text,
                              "cached": {"type": "boolean"}, "request_id": text}}
    personal = {"allOf": [{"$ref": "#/components/schemas/RecommendationList"}, {
        "type": "object", "required": ["served", "reason"],
        "properties": {"served": {"enum": ["personalised", "trending (cold start)",
                                           "trending (personalisation off)"]},
                       "reason": text,
                       "profile": nullable({"type": "object", "properties": {
                           "events": {"type": "integer"},
                           "price_band": nullable({"type": "array", "items": num, "minItems": 2, "maxItems": 2}),
                           "categories": {"type": "object", "additionalProperties": num}}})}}]}
    fbt = {"allOf": [{"$ref": "#/components/schemas/RecommendationList"}, {
        "type": "object", "required": ["source", "reason", "baskets"],
        "properties": {"source": {"enum": ["co-purchases", "co-purchases + complete the look",
                                           "complete the look (too little purchase data)"]},
                       "reason": text, "baskets": {"type": "integer"}}}]}
    event = {"type": "object", "required": ["kind", "session_id"], "additionalProperties": False,
             "description": "Give product_id or sku, exactly one.",
             "properties": {"kind": {"enum": list(EVENT_KINDS)}, "session_id": {**text, "maxLength": 128},
                            "product_id": {"type": "integer", "minimum": 0},
                            "sku": text, "ts": {"oneOf": [{"type": "string", "format": "date-time"},
                                                          {"type": "integer", "description": "epoch milliseconds"}],
                                                "description": "default: now; not in the future, at most five "
                                                               "years old"},
                            "user_id": {**text, "maxLength": 128},
                            "source_product_id": {"type": "integer", "minimum": 0}, "query": text,
                            "algorithm": {**text, "pattern": "^[A-Za-z0-9_.:\\-]{1,32}$"},
                            "strategy": {**text, "maxLength": 64}, "position": {"type": "integer", "minimum": 0},
                            "score": num, "filters": {"type": "object"},
                            "experiment": {**text, "maxLength": 128}, "variant": {**text, "maxLength": 64},
                            "event_id": {**text, "pattern": "^[A-Za-z0-9._:\\-]{1,64}$",
                                         "description": "idempotency key: an event_id already logged is skipped"}}}
    return {
        "Item": item, "RecommendationList": listing, "PersonalisedList": personal, "FBTList": fbt, "Event": event,
        "EventsResult": {"type": "object", "required": ["received", "inserted", "duplicates", "request_id"],
                         "properties": {"received": {"type": "integer"}, "inserted": {"type": "integer"},
                                        "duplicates": {"type": "integer"}, "request_id": text}},
        "NotLike": {"type": "object", "required": ["user_id", "not_like"],
                    "properties": {"user_id": text, "not_like": {"type": "array", "items": {"type": "integer"}},
                                   "request_id": text}},
        "Health": {"type": "object", "required": ["status", "config_version"],
                   "properties": {"status": {"enum": ["ok", "unavailable"]}, "config_version": text,
                                  "config_fingerprint": text, "config_path": nullable(text),
                                  "config_error": nullable(text), "cache": {"type": "object"},
                                  "products": {"type": "integer"}, "backend": text, "index_version": text,
                                  "encoders": {"type": "object"}, "error": text,
                                  "impressions": {"type": "object", "description": "lists queued, written, "
                                                                                   "dropped and failed"}}},
        "OpenAPI": {"type": "object", "description": "An OpenAPI 3.1 document."},
        "Error": {"type": "object", "required": ["error", "message", "request_id"],
                  "properties": {"error": text, "message": text, "request_id": text,
                                 "errors": {"type": "array", "items": text}}},
    }


def openapi_document(endpoints: Sequence[Endpoint], settings: Settings) -> dict[str, Any]:
    """OpenAPI 3.1 from the endpoint declarations the requests are validated against."""
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {"operationId": ep.name, "summary": ep.summary,
                              "parameters": [p.openapi() for p in ep.params]}
        if ep.body is not None:
            op["requestBody"] = ep.body
        op["responses"] = {str(ep.status): {"description": "OK" if ep.status == 200 else "Created",
                                            "content": {"application/json": {"schema": {
                                                "$ref": f"#/components/schemas/{ep.response}"}}}}}
        for code in ep.errors:
            op["responses"][str(code)] = {"description": _ERROR_TEXT[code], "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": "Vitrina recommendations", "version": API_VERSION,
                     "description": "Similar items, search by photo, personalised lists, complete the look, "
                                    "trending and frequently bought together; the event log. Unknown query "
                                    "parameters are refused (400)."},
            "paths": paths, "components": {"schemas": _schemas(settings)}}


__all__ = ["create_app", "Service", "ConfigWatcher", "Param", "Endpoint", "openapi_document", "parse_params",
           "item_json", "PayloadTooLarge"]
