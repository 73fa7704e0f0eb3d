"""Wires settings into the parts (database, catalog, store, encoders, indexer, recommender), lazily, so a
command that needs only SQL never loads a model. The console keeps one Runtime in st.cache_resource."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from .catalog.db import Database
from .catalog.queries import Catalog
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    config_path: str | None = None

    @cached_property
    def db(self) -> Database:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return Database(self.settings.sql_url)

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.db)

    @cached_property
    def store(self):
        return _store_for(self.settings)

    @cached_property
    def text_encoder(self):
        from .encoders.factory import make_text_encoder

        return make_text_encoder(self.settings.text_encoder)

    @cached_property
    def _image(self):
        from .encoders.factory import make_image_encoder

        return make_image_encoder(self.settings.image_encoder)

    @property
    def image_encoder(self):
        return self._image[0]

    @property
    def encoder_warning(self) -> str | None:
        return self._image[1]

    @cached_property
    def config(self):
        from .config import RecoConfig

        path = self.config_path or self.settings.config_path
        return RecoConfig.load(path) if path else RecoConfig.default(self.settings)

    @cached_property
    def indexer(self):
        from .indexing import Indexer

        return Indexer(self.db, self.store, self.text_encoder, self.image_encoder, self.text_weight,
                       max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels)

    @property
    def text_weight(self) -> float:
        """From the config (whose built-in default reads VITRINA_TEXT_WEIGHT)."""
        return float(self.config.text_weight)

    @cached_property
    def recommender(self):
        from .recommend import Recommender

        return Recommender(self.catalog, self.store, self.text_encoder, self.image_encoder,
                           self.settings, self.config)

    def close(self) -> None:
        """Flush and release the store (every Runtime of this process on the same location shares it)."""
        if "store" in self.__dict__:
            _STORES.pop(_store_key(self.settings), None)
            self.store.close()
            del self.__dict__["store"]


_SHARED: dict[tuple, Runtime] = {}
_STORES: dict[str, object] = {}


def _store_key(settings: Settings) -> str:
    return settings.qdrant_url + "|" + settings.qdrant_collection if settings.qdrant_url else str(settings.qdrant_path)


def _store_for(settings: Settings):
    """The embedded store admits one opener per folder: Runtimes of one process share the open store."""
    from .store import open_store

    key = _store_key(settings)
    if key not in _STORES:
        _STORES[key] = open_store(settings)
    return _STORES[key]


def shared(settings: Settings | None = None, config_path: str | None = None) -> Runtime:
    """One Runtime per data location in a process: the embedded store admits a single opener, so the
    console, its tests and the CLI helpers in one process must share it."""
    settings = settings or Settings()
    key = (str(settings.data_dir), settings.sql_url, settings.qdrant_url, config_path)
    if key not in _SHARED:
        _SHARED[key] = Runtime(settings, config_path=config_path)
    return _SHARED[key]
