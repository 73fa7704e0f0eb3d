"""What indexing reports: per-product errors, a run's counts, the encoded batch a worker hands to the writer,
a plan, the drift between SQL and the store, the last run's status."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


@dataclass
class ProductError:
    product_id: int
    sku: str
    error: str


@dataclass
class IndexReport:
    mode: str  # incremental | full
    candidates: int = 0  # products that needed work
    encoded: int = 0  # products whose vectors were (re)computed
    payload_only: int = 0  # products whose payload changed but not their text or photo
    text_only: int = 0  # indexed without a usable photo (flagged has_image=0)
    removed: int = 0  # inactive or deleted products taken out of the store
    errors: list[ProductError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, batch: "Batch") -> None:
        encoded = [e for e in batch.items if e.vectors is not None]
        self.encoded += len(encoded)
        self.payload_only += len(batch.items) - len(encoded)
        self.text_only += sum(1 for e in encoded if not e.has_image)
        self.errors.extend(batch.errors)


@dataclass
class Encoded:
    """One product ready for the store: its vectors (None: only its payload changed) and payload."""

    product_id: int
    content_hash: str
    vectors: dict[str, np.ndarray] | None
    payload: dict
    has_image: bool


@dataclass
class Batch:
    items: list[Encoded] = field(default_factory=list)
    errors: list[ProductError] = field(default_factory=list)


@dataclass
class Plan:
    todo: list[int]  # active products to encode (or refresh), in id order
    gone: list[int]  # points of products no longer active


@dataclass
class DriftReport:
    active_products: int
    points: int
    missing: list[int] = field(default_factory=list)  # active products with no point (or no sync row)
    orphans: list[int] = field(default_factory=list)  # points whose product is gone or inactive
    stale: list[int] = field(default_factory=list)  # synced by other encoders or from older content
    payload_mismatch: list[int] = field(default_factory=list)  # price/stock/active/category differ in store
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.missing or self.orphans or self.stale or self.payload_mismatch)


@dataclass
class IndexStatus:
    synced: int  # products with vectors
    last_synced_at: datetime | None
    errors: list[ProductError]  # from the last run, kept in SQL so any process can show them
