"""The parts behind the routes: the runtime of the data location (whose live config version the service
follows, engine/recommend/versions.py), the response cache, the event log, the impression writer and the
catalog's photos. Thread-safe: the routes look lists up in the cache on the event loop (in-process, or Redis
through redis.asyncio) and run everything that blocks on SQL or the vector store in FastAPI's thread pool
(engine.service.lists.serve)."""
from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from engine.cache import CachedList, RecoCache, cache_key, make_cache
from engine.errors import ValidationError, VitrinaError
from engine.insights.events import EventLog
from engine.recommend.config import RecoConfig
from engine.recommend.facade import Recommender
from engine.runtime import Runtime, shared
from engine.service.impressions import ImpressionWriter
from engine.service.media import Photos
from engine.service.params import Refine
from engine.settings import Settings
from engine.types import Filters

log = logging.getLogger(__name__)

CATEGORY_MAP_SECONDS = 60.0  # category path → id map reuse


def _response_cache(runtime: Runtime, settings: Settings) -> RecoCache:
    """The runtime's response cache. `shared` keys runtimes by data location only, so an app given other cache
    settings than the runtime of its location was built with (another REDIS_URL or TTL) gets its own."""
    if (runtime.settings.redis_url, runtime.settings.cache_ttl) == (settings.redis_url, settings.cache_ttl):
        return runtime.cache
    return make_cache(settings)


@dataclass(frozen=True)
class Lookup:
    """Where a list would be cached under the version served now: what the event loop looks up."""

    serving: "Serving"
    key: str


@dataclass(frozen=True)
class Serving:
    """One live version as the service serves it: a request takes one and keeps it to its end."""

    version: int
    fingerprint: str
    recommender: Recommender

    @property
    def config(self) -> RecoConfig:
        return self.recommender.config


def settle_heap() -> None:
    """Move what the process holds after its start-up reads (the cards: about 350,000 objects at 100k products)
    out of the collector's sight. Python's full collections walk every tracked object; over the cards each took
    250-330 ms at 100k, a stall of every request in flight about every 25 s under load. Frozen objects are
    still freed by reference counting when the cache lets them go; only cycles among them would stay."""
    gc.collect()  # what is already garbage is not frozen with the rest
    gc.freeze()


class Service:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        # The process-wide runtime of this data location: a console serving this API beside itself, or a job
        # in the same process, shares its open store, cards and profiles instead of opening a second copy.
        self.runtime = shared(self.settings)
        self.cache = _response_cache(self.runtime, self.settings)
        self.events = EventLog(self.runtime.db)
        self.impressions = ImpressionWriter(self.events)
        self.photos = Photos(self.settings, self.runtime.db)
        self._serving: Serving | None = None
        self._lock = threading.Lock()
        self._categories: tuple[float, dict[str, int]] | None = None
        self.warmer: threading.Thread | None = None  # the start-up read of the cards (warm_cards)

    # ---- parts --------------------------------------------------------------------------------------
    def current(self) -> Serving:
        """The live version (asked of the database at most once a second), with its recommender, rebuilt by
        the runtime (sharing store, cards and encoders) when a new version went live."""
        live = self.runtime.live.current()
        serving = self._serving
        if serving is not None and serving.version == live.number:
            return serving
        with self._lock:
            if self._serving is None or self._serving.version != live.number:
                self._serving = Serving(live.number, live.fingerprint, self.runtime.recommender(live.config))
                log.info("serving config version %s", live.number)
            return self._serving

    def serving_version(self) -> int | None:
        """The version served now, as last looked up (no database query: the response header's value)."""
        serving = self._serving
        return serving.version if serving is not None else None

    def due(self) -> bool:
        """Whether the next `current()` asks the database for the live version."""
        return self.runtime.live.due()

    @property
    def config(self) -> RecoConfig:
        return self.current().config

    def recommender(self) -> Recommender:
        return self.current().recommender

    def index_version(self) -> str:
        return self.runtime.index_version()

    def warm_cards(self) -> None:
        """Read the product cards into the shared card cache in a background thread (engine.recommend.cards,
        `warmer`): the first lists after a start then cost what later ones do. /health shows the progress."""
        cards = self.runtime.cards

        def run() -> None:
            try:
                if cards.warm():
                    settle_heap()
            except Exception:  # noqa: BLE001 - a failed warm-up only leaves the cache to fill on demand
                log.exception("reading the product cards ahead failed; they are read as lists need them")

        cards.warming = True  # from now on, so /health never shows a warm-up that has yet to begin as done
        self.warmer = threading.Thread(target=run, name="vitrina-warm-cards", daemon=True)
        self.warmer.start()

    def close(self) -> None:
        """Write the queued impressions and release the vector store (shared by the Runtimes of this
        process on the same location); a later request reopens it."""
        self.impressions.close()
        self.runtime.close()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the index, the store and the config are usable, and what /health says about them."""
        serving = self.current()
        body: dict[str, Any] = {"status": "ok", "config_version": serving.version,
                                "config_fingerprint": serving.fingerprint[:16],
                                "config_error": self.runtime.live.error, "cache": self.cache.status(),
                                "impressions": self.impressions.status(), "cards": self.runtime.cards.status()}
        try:
            rec = serving.recommender
            spec = rec.store.spec()
            if spec is None:
                raise VitrinaError("the vector index is empty: run `python -m engine index`")
            body.update(products=rec.store.count(Filters(active_only=False)), backend=rec.store.backend,
                        index_version=self.index_version(),
                        encoders={"text": spec.text_encoder, "image": spec.image_encoder})
            return True, body
        except VitrinaError as e:
            body.update(status="unavailable", error=str(e))
            return False, body

    # ---- parameters ---------------------------------------------------------------------------------
    def category_id(self, key: str) -> int:
        """A category parameter (id or path) as an id; an unknown one is a bad parameter."""
        found = self._category_cached(key)
        if found is not None:
            return found
        table: dict[str, int] = {}
        for n in self.runtime.catalog.categories():
            table[str(n.id)] = n.id
            table[n.path] = n.id
            table[n.path.casefold()] = n.id
            table[n.label] = n.id
        self._categories = (time.monotonic(), table)
        found = self._category_cached(key)
        if found is None:
            raise ValidationError(f"unknown category {key!r}: give a category id or a path such as Men/Tops/Jackets")
        return found

    def _category_cached(self, key: str) -> int | None:
        """The id of a category parameter from the category map while it is fresh, else None."""
        cached = self._categories
        if cached is None or time.monotonic() - cached[0] > CATEGORY_MAP_SECONDS:
            return None
        norm = "/".join(p.strip() for p in key.replace(" > ", "/").split("/") if p.strip())
        for k in (key, norm, norm.casefold()):
            if k in cached[1]:
                return cached[1][k]
        return None

    def filters(self, category: str | None, refine: Refine) -> Filters:
        return Filters(category_ids=[self.category_id(category)] if category else [],
                       price_min=refine.price_min, price_max=refine.price_max, colours=list(refine.color or []),
                       in_stock=refine.in_stock).validate()

    def strategy(self, name: str | None) -> str:
        config = self.current().config
        name = name or config.default_strategy
        if name not in config.strategies:
            raise ValidationError(f"unknown strategy {name!r} (known: {', '.join(config.strategies)})")
        return name

    # ---- cache --------------------------------------------------------------------------------------
    def cached_list(self, kind: str, key_params: dict[str, Any], compute: Callable[[Recommender], CachedList], *,
                    key_only: bool = False, missed: str | None = None) -> tuple[CachedList, bool] | Lookup | None:
        """The list from the cache (and True), or computed by the live version's recommender and cached (and
        False). The key carries that version's fingerprint, so a publish is never answered from old entries.

        `key_only`: only the Lookup of the list (its key under the version served now), worked out on the event
        loop from what is in memory; None when that would need a database read. `missed`: the key such a lookup
        just missed, so it is not read again before computing."""
        if key_only:  # on the event loop: only what is in memory now, never a database read
            serving, index = self._serving, self.runtime.index_version.peek()
            if serving is None or index is None or self.due() or not self.cache.enabled:
                return None
            return Lookup(serving, cache_key(kind, key_params, serving.fingerprint, index))
        serving = self.current()
        if not self.cache.enabled:
            return self._computed(serving, compute), False
        key = cache_key(kind, key_params, serving.fingerprint, self.index_version())
        if key != missed:
            hit = self.cache.get_list(key)
            if hit is not None:  # ranked by equal content, perhaps under an earlier number (a rollback)
                hit.config_version = serving.version
                return hit, True
        served = self._computed(serving, compute)
        self.cache.put_list(key, served)
        return served, False

    async def lookup(self, found: Lookup) -> tuple[CachedList, bool] | None:
        """The cached list of a Lookup (and True), read on the event loop; None on a miss."""
        hit = await self.cache.aget_list(found.key)
        if hit is None:
            return None
        hit.config_version = found.serving.version  # ranked by equal content, perhaps under an earlier number
        return hit, True

    def answers_inline(self, category: str | None = None) -> bool:
        """Whether a cache lookup can run on the event loop: the cache reads without blocking it (in-process, or
        Redis through redis.asyncio) and neither the live version, the index version nor the category map is
        due a database read."""
        if not self.cache.enabled or not self.cache.on_loop:
            return False
        if self.due() or self.runtime.index_version.peek() is None:
            return False
        return category is None or self._category_cached(category) is not None

    @staticmethod
    def _computed(serving: Serving, compute: Callable[[Recommender], CachedList]) -> CachedList:
        served = compute(serving.recommender)
        served.config_version = serving.version
        return served

    # ---- impressions --------------------------------------------------------------------------------
    def log_impressions(self, served: CachedList, request_id: str, session_id: str | None, user_id: str | None,
                        filters: dict[str, Any]) -> None:
        """Queue the list's impressions for the writer thread (one batch per list)."""
        if not served.items:
            return
        self.impressions.submit(dict(
            served=served.served(),
            session_id=session_id or f"request-{request_id}", algorithm=served.algorithm, user_id=user_id,
            strategy=served.strategy, source_product_id=served.source_product_id,
            config_version=served.config_version,
            filters={"request_id": request_id, **{k: v for k, v in filters.items() if v not in (None, [], False)}}))
