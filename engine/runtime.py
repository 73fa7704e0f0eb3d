"""The one place that builds the engine: settings → database, catalog, store, encoders, cache, config →
recommenders. Parts are made lazily, so a command that needs only SQL never loads a model.

Every recommender of a Runtime shares its parts (the open store, the encoders, the product cards, the
popularity snapshots, the shopper profiles); `recommender(config)` is the only way one is built, for the
live config or for a draft under study. The console keeps one Runtime per process in st.cache_resource.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from engine.cache import IndexVersion, RecoCache, make_cache
from engine.catalog.db import Database
from engine.catalog.queries import Catalog
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.encoders.factory import deferred_text_encoder, make_image_encoder
from engine.indexing.indexer import Indexer
from engine.insights.popularity import popularity
from engine.recommend.cards import CardCache, PopularityCache
from engine.recommend.config import RecoConfig
from engine.recommend.facade import Recommender
from engine.recommend.profiles import ProfileStore
from engine.recommend.versions import LiveConfig
from engine.settings import Settings
from engine.store import EdgeStore, VectorStore, open_store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    config_path: str | None = None

    @classmethod
    def from_config(cls, path: str | Path, settings: Settings | None = None) -> "Runtime":
        """A runtime ranking with a config file instead of the live version (to try or evaluate a document
        before it is imported and published). Loading validates the whole document (ConfigError lists every
        problem); opening a collection built by other encoders fails with EncoderMismatch."""
        rt = cls(settings or Settings(), config_path=str(path))
        rt.config  # noqa: B018  (load now: a bad document fails here, not on the first request)
        return rt

    @cached_property
    def db(self) -> Database:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return Database(self.settings.sql_url)

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.db)

    @cached_property
    def store(self) -> VectorStore:
        return _store_for(self.settings)

    @cached_property
    def text_encoder(self) -> TextEncoder:
        """Its model loads on the first text encoded (a command that only reads stored vectors never loads it)."""
        return deferred_text_encoder(self.settings.text_encoder, self.settings.device, self.settings.encode_batch)

    @cached_property
    def _image(self) -> tuple[ImageEncoder, str | None]:
        """Built on first use (`similar`, `stats` and the config commands never ask). A CLIP load that failed
        is remembered in the data folder: the next process falls back without trying (encoders/availability.py)."""
        return make_image_encoder(self.settings.image_encoder, self.settings.device, self.settings.encode_batch,
                                  remember_in=self.settings.data_dir)

    @property
    def image_encoder(self) -> ImageEncoder:
        return self._image[0]

    @property
    def encoder_warning(self) -> str | None:
        """Why 'auto' fell back to the descriptor, else None (the factory logs it once per process)."""
        return self._image[1]

    @cached_property
    def _file_config(self) -> RecoConfig:
        return RecoConfig.load(self.config_path)

    @cached_property
    def live(self) -> LiveConfig:
        """The published version every process serves, followed at most a second late (versions.py)."""
        return LiveConfig(self.db, lambda: RecoConfig.default(self.settings))

    @property
    def config(self) -> RecoConfig:
        """The config this runtime ranks with: the file it was given, else the live published version."""
        return self._file_config if self.config_path else self.live.current().config

    @property
    def config_version(self) -> int | None:
        """The live version number (None for a runtime ranking with a file)."""
        return None if self.config_path else self.live.current().number

    @cached_property
    def indexer(self) -> Indexer:
        return Indexer(self.db, self.store, self.text_encoder, self.image_encoder, self.text_weight,
                       max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels)

    @property
    def text_weight(self) -> float:
        """From the config (whose built-in default reads VITRINA_TEXT_WEIGHT)."""
        return float(self.config.text_weight)

    # ---- what every recommender of this location shares --------------------------------------------------
    @cached_property
    def cards(self) -> CardCache:
        return CardCache(self.catalog)

    @cached_property
    def popularity(self) -> PopularityCache:
        return PopularityCache(lambda half_life, weights: popularity(self.db, half_life_hours=half_life,
                                                                     weights=weights))

    @cached_property
    def profiles(self) -> ProfileStore:
        return ProfileStore(self, self.index_version)

    @cached_property
    def index_version(self) -> IndexVersion:
        """What the vectors are now, re-read at most once a second (it keys cached responses and profiles)."""
        return IndexVersion(self.db, lambda: self.store)

    @cached_property
    def cache(self) -> RecoCache:
        """The response cache of the HTTP service (in-process, or Redis with REDIS_URL)."""
        return make_cache(self.settings)

    def recommender(self, config: RecoConfig | None = None) -> Recommender:
        """A recommender ranking with `config` (validated: ConfigError lists every problem: a draft under
        study), or with the live version as it is now. Building one costs nothing: it shares every part of
        this runtime."""
        if config is None:
            return Recommender(self, self.config)
        return Recommender(self, config.validate())

    def announce(self, api: str) -> None:
        """Record where this process serves the engine over HTTP, in the embedded store's owner note, so a
        process that finds the store taken is told where to go (a Qdrant server needs no such note)."""
        if isinstance(self.store, EdgeStore):
            self.store.announce(api)

    def close(self) -> None:
        """Flush and release the store (every Runtime of this process on the same location shares it); the
        next use reopens it."""
        with _LOCK:
            if "store" in self.__dict__:
                _STORES.pop(_store_key(self.settings), None)
                self.store.close()
                del self.__dict__["store"]


_SHARED: dict[tuple, Runtime] = {}
_STORES: dict[str, VectorStore] = {}
_LOCK = threading.RLock()


def _store_key(settings: Settings) -> str:
    return settings.qdrant_url + "|" + settings.qdrant_collection if settings.qdrant_url else str(settings.qdrant_path)


def _store_for(settings: Settings) -> VectorStore:
    """The embedded store admits one opener per folder: Runtimes of one process share the open store."""
    key = _store_key(settings)
    with _LOCK:
        if key not in _STORES:
            _STORES[key] = open_store(settings)
        return _STORES[key]


def shared(settings: Settings | None = None, config_path: str | None = None) -> Runtime:
    """One Runtime per data location in a process: the embedded store admits a single opener, so the
    console, its tests and the CLI helpers in one process must share it."""
    settings = settings or Settings()
    key = (str(settings.data_dir), settings.sql_url, settings.qdrant_url, config_path)
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = Runtime(settings, config_path=config_path)
        return _SHARED[key]
