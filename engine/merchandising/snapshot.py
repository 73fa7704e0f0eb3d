"""The catalog as the merchandising figures see it: active products, their categories and the curated links,
read once per catalog state; the fixed, seeded samples the figures are computed over; and the cache those
figures live in, keyed by the data location and the catalog's state so an import is never answered from it."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping

from cachetools import TLRUCache
from sqlalchemy import func, select

from engine.catalog.models import Product, ProductCategory
from engine.catalog.queries import Catalog
from engine.recommend.facade import Recommender
from engine.runtime import Runtime
from engine.settings import Settings
from engine.types import ProductCard

SAMPLE_SEED = 7
SAMPLE_LINKED = 60  # sample products that have upsell links: the Recall/NDCG queries
SAMPLE_OTHERS = 20  # and products without, so the list-shape numbers see the whole catalog
LOOK_SAMPLE = 40  # products with related or cross-sell links whose looks are judged
CACHE_ENTRIES = 64


def location(rec: Recommender) -> tuple:
    """What cached figures are kept per: the data location and the catalog's state (newest change, highest id
    and product count: one indexed query), so an import or an edit is never answered from the cache."""
    s: Settings = rec.settings
    with rec.catalog.db.engine.connect() as conn:
        version = tuple(conn.execute(select(func.max(Product.updated_at), func.max(Product.id), func.count())
                                     .select_from(Product)).one())
    return str(s.data_dir), s.sql_url, s.qdrant_url, version


class FigureCache:
    """Figures per key (data location, config fingerprint, sample, ...), each kept for the settings' cache
    TTL given when it is stored (popularity moves with new events): a thread-safe cachetools TLRUCache."""

    def __init__(self, entries: int = CACHE_ENTRIES):
        self._data: TLRUCache = TLRUCache(maxsize=entries, ttu=lambda _key, value, now: now + value[0])
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            hit = self._data.get(key)
            return None if hit is None else hit[1]

    def put(self, key: Hashable, value: Any, ttl: float) -> None:
        with self._lock:
            self._data[key] = (float(ttl), value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_SNAPSHOTS = FigureCache(8)
WHAT_IF_CACHE = FigureCache()
LOOKS_CACHE = FigureCache()


def clear_cache() -> None:
    """Forget every cached snapshot and figure (after a reindex with other encoders, say)."""
    for c in (_SNAPSHOTS, WHAT_IF_CACHE, LOOKS_CACHE):
        c.clear()


# ---------------------------------------------------------------- the catalog as the metrics see it

@dataclass(frozen=True)
class CatalogSnapshot:
    """Active products and the curated links between them, read once and shared by the metrics."""

    cards: dict[int, ProductCard]
    filed: dict[int, frozenset[int]]  # every category a product is under, as the store's category filter sees it
    upsell: dict[int, frozenset[int]]  # source → pricier alternatives (both active)
    look_links: dict[int, frozenset[int]]  # source → related and cross-sell products (both active)
    _members: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def style(self, pid: int) -> str:
        """Links join styles, not colours: a product is judged by its variant group."""
        card = self.cards[pid]
        return card.group_key or card.sku

    def styles(self, ids: Iterable[int]) -> set[str]:
        return {self.style(i) for i in ids if i in self.cards}

    def in_category(self, category_id: int) -> list[int]:
        """Active products under a category (its subtree, by primary category or by membership)."""
        if category_id not in self._members:
            self._members[category_id] = [pid for pid, cats in self.filed.items() if category_id in cats]
        return self._members[category_id]


def snapshot(runtime: Runtime) -> CatalogSnapshot:
    base = runtime.recommender()
    key = location(base)
    snap = _SNAPSHOTS.get(key)
    if snap is None:
        snap = _read_snapshot(base.catalog)
        _SNAPSHOTS.put(key, snap, base.settings.cache_ttl)
    return snap


def _read_snapshot(catalog: Catalog) -> CatalogSnapshot:
    cards = catalog.cards(catalog.ids(active_only=True))
    filed = {pid: set(card.category_ids) for pid, card in cards.items()}
    with catalog.db.session() as s:
        members = s.execute(select(ProductCategory.product_id, ProductCategory.category_id)).all()
    for pid, cid in members:  # collections and promotions: a product is under them and their ancestors too
        if pid in filed:
            filed[pid].update(catalog.category_ancestors(cid, include_self=True))

    def active(links: Mapping[int, set[int]]) -> dict[int, frozenset[int]]:
        out = {}
        for src, dst in links.items():
            kept = frozenset(d for d in dst if d in cards)
            if src in cards and kept:
                out[src] = kept
        return out

    look: dict[int, set[int]] = {}
    for kind in ("related", "crosssell"):
        for src, dst in catalog.links(kind).items():
            look.setdefault(src, set()).update(dst)
    return CatalogSnapshot(cards, {pid: frozenset(c) for pid, c in filed.items()}, active(catalog.links("upsell")),
                           active(look))


def default_sample(snap: CatalogSnapshot, linked: int = SAMPLE_LINKED, others: int = SAMPLE_OTHERS,
                   seed: int = SAMPLE_SEED) -> tuple[int, ...]:
    """The what-if sample: `linked` products with upsell links and `others` without, drawn by `seed`
    (the same catalog always gives the same sample), in id order."""
    rng = random.Random(seed)
    with_links = sorted(snap.upsell)
    without = sorted(set(snap.cards) - set(snap.upsell))
    picked = rng.sample(with_links, min(linked, len(with_links))) + rng.sample(without, min(others, len(without)))
    return tuple(sorted(picked))


def look_sample(snap: CatalogSnapshot, size: int = LOOK_SAMPLE, seed: int = SAMPLE_SEED) -> tuple[int, ...]:
    """Products with related or cross-sell links, drawn by `seed`, in id order."""
    rng = random.Random(seed)
    linked = sorted(snap.look_links)
    return tuple(sorted(rng.sample(linked, min(size, len(linked)))))
