"""Vector stores behind one contract (base.VectorStore): embedded qdrant-edge by default, a Qdrant server
when QDRANT_URL is set."""
from __future__ import annotations

from engine.settings import Settings
from engine.store.base import PAYLOAD_SCHEMA, CollectionSpec, PointRecord, StoreHit, VectorStore
from engine.store.client import QdrantClientStore
from engine.store.edge import EdgeStore, StoreLocked


def open_store(settings: Settings) -> VectorStore:
    """The store the settings point at. The collection itself is created or checked by `store.open(spec)`,
    once the encoders (and so the spec) are known."""
    if settings.qdrant_url:
        return QdrantClientStore(settings.qdrant_url, settings.qdrant_collection,
                                 api_key=settings.qdrant_api_key or None)
    return EdgeStore(settings.qdrant_path)


__all__ = ["open_store", "EdgeStore", "QdrantClientStore", "StoreLocked", "VectorStore", "CollectionSpec",
           "PointRecord", "StoreHit", "PAYLOAD_SCHEMA"]
