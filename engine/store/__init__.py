"""Vector stores behind one contract (base.VectorStore): embedded qdrant-edge by default, a Qdrant server
when QDRANT_URL is set.

The server's client (qdrant-client and its generated models: about a second to import) loads only when a
store on a server is opened or `QdrantClientStore` is asked for, so a process on the embedded store never
pays for it (a name resolved at run time, not an import inside a function: tests/test_architecture.py)."""
from __future__ import annotations

import importlib
from typing import Any

from engine.settings import Settings
from engine.store.base import PAYLOAD_SCHEMA, CollectionSpec, PointRecord, StoreHit, VectorStore
from engine.store.edge import EdgeStore, StoreLocked

CLIENT_MODULE = "engine.store.client"


def open_store(settings: Settings) -> VectorStore:
    """The store the settings point at. The collection itself is created or checked by `store.open(spec)`,
    once the encoders (and so the spec) are known."""
    if settings.qdrant_url:
        client = importlib.import_module(CLIENT_MODULE)
        return client.QdrantClientStore(settings.qdrant_url, settings.qdrant_collection,
                                        api_key=settings.qdrant_api_key or None)
    return EdgeStore(settings.qdrant_path)


def __getattr__(name: str) -> Any:
    """`from engine.store import QdrantClientStore` still works: the client module loads on that first use."""
    if name == "QdrantClientStore":
        return importlib.import_module(CLIENT_MODULE).QdrantClientStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["open_store", "EdgeStore", "QdrantClientStore", "StoreLocked", "VectorStore", "CollectionSpec",
           "PointRecord", "StoreHit", "PAYLOAD_SCHEMA"]
