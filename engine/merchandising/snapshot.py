"""The catalog as the merchandising figures see it: the active products' ids and the curated links between
them, read once per catalog state; the cards, categories and styles of the few products a figure looks at,
read on demand in batches; the fixed, seeded samples the figures are computed over; and the cache those
figures live in, keyed by the data location and the catalog's state so an import is never answered from it.

Nothing here loads the catalog: at 100,000 products the former snapshot of every card took 10–12 s and
1.2 GB per catalog state; what the figures need is a sample of ids, the links, and the cards of the products
the sample's lists show.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Iterator, Mapping

from cachetools import TLRUCache
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from engine.catalog.models import Product, ProductCategory, ProductLink
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
    """What cached figures are kept per: the data location and the catalog's state (`Catalog.version`, one
    cheap query), so an import or an edit is never answered from the cache."""
    s: Settings = rec.settings
    return str(s.data_dir), s.sql_url, s.qdrant_url, rec.catalog.version()


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

class ActiveCards(Mapping[int, ProductCard]):
    """Active products' cards by id, read from the catalog on first use (in batches by `load`) and kept;
    `len` is the number of active products, counted by the database. Iterating reads every active id."""

    def __init__(self, catalog: Catalog, active: "ActiveIds"):
        self._catalog, self._active, self._cards = catalog, active, {}
        self._lock = threading.Lock()

    def load(self, ids: Iterable[int]) -> None:
        """Read the cards of these products (those not read yet) in one batch; inactive ones are left out."""
        todo = [int(i) for i in dict.fromkeys(ids) if int(i) not in self._cards]
        if not todo:
            return
        found = {pid: c for pid, c in self._catalog.cards(todo).items() if c.is_active}
        with self._lock:
            self._cards.update({pid: found.get(pid) for pid in todo})

    @property
    def loaded(self) -> int:
        """Cards read so far (what this snapshot holds in memory)."""
        return sum(c is not None for c in self._cards.values())

    def __getitem__(self, pid: int) -> ProductCard:
        if pid not in self._cards:
            self.load([pid])
        card = self._cards.get(pid)
        if card is None:
            raise KeyError(pid)
        return card

    def __contains__(self, pid: object) -> bool:
        try:
            self[int(pid)]  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            return False
        return True

    def __len__(self) -> int:
        return len(self._active.ids())

    def __iter__(self) -> Iterator[int]:
        return iter(self._active.ids())


class ActiveIds:
    """The ids of the active products (ids only, about 1 MB at 100,000 products), read once."""

    def __init__(self, catalog: Catalog):
        self._catalog, self._ids = catalog, None

    def ids(self) -> list[int]:
        if self._ids is None:
            self._ids = self._catalog.ids(active_only=True)
        return self._ids


class Filed(Mapping[int, frozenset[int]]):
    """Every category a product is under (its primary category's chain and each membership's chain, as the
    store's category filter sees it), read per product on first use and kept."""

    def __init__(self, catalog: Catalog, cards: ActiveCards):
        self._catalog, self._cards, self._filed = catalog, cards, {}

    def load(self, ids: Iterable[int]) -> None:
        todo = [int(i) for i in dict.fromkeys(ids) if int(i) not in self._filed]
        if not todo:
            return
        self._cards.load(todo)
        out = {pid: set(self._cards[pid].category_ids) for pid in todo if pid in self._cards}
        with self._catalog.db.session() as s:
            for i in range(0, len(todo), 900):
                for pid, cid in s.execute(select(ProductCategory.product_id, ProductCategory.category_id)
                                          .where(ProductCategory.product_id.in_(todo[i:i + 900]))):
                    if pid in out:
                        out[pid].update(self._catalog.category_ancestors(cid, include_self=True))
        self._filed.update({pid: frozenset(out.get(pid, ())) for pid in todo})

    def __getitem__(self, pid: int) -> frozenset[int]:
        if pid not in self._filed:
            self.load([pid])
        if pid not in self._cards:
            raise KeyError(pid)
        return self._filed[pid]

    def __len__(self) -> int:
        return len(self._cards)

    def __iter__(self) -> Iterator[int]:
        return iter(self._cards)


@dataclass(frozen=True)
class CatalogSnapshot:
    """Active products as the metrics see them: curated links read at once (ids only), cards, categories and
    styles read for the products asked about, in batches, and kept for this catalog state."""

    catalog: Catalog = field(compare=False, repr=False)
    cards: ActiveCards = field(compare=False, repr=False)
    filed: Filed = field(compare=False, repr=False)  # every category a product is under
    upsell: dict[int, frozenset[int]]  # source → pricier alternatives (both active)
    look_links: dict[int, frozenset[int]]  # source → related and cross-sell products (both active)
    active: ActiveIds = field(compare=False, repr=False)
    _members: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)
    _styles: dict[int, str] = field(default_factory=dict, compare=False, repr=False)
    _samples: dict[tuple, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def style(self, pid: int) -> str:
        """Links join styles, not colours: a product is judged by its variant group."""
        if pid in self._styles:
            return self._styles[pid]
        card = self.cards[pid]
        return card.group_key or card.sku

    def styles(self, ids: Iterable[int]) -> set[str]:
        ids = list(ids)
        self.cards.load(i for i in ids if i not in self._styles)
        return {self.style(i) for i in ids if i in self._styles or i in self.cards}

    def in_category(self, category_id: int) -> list[int]:
        """Active products under a category (its subtree, by primary category or by membership), with their
        styles read in the same query (no card per product)."""
        if category_id not in self._members:
            sub = self.catalog.category_descendants(category_id)
            q = (select(Product.id, func.coalesce(Product.group_key, Product.sku))
                 .where(Product.is_active.is_(True),
                        or_(Product.category_id.in_(sub),
                            Product.id.in_(select(ProductCategory.product_id)
                                           .where(ProductCategory.category_id.in_(sub)))))
                 .order_by(Product.id))
            with self.catalog.db.session() as s:
                rows = s.execute(q).all()
            self._styles.update(dict(rows))
            self._members[category_id] = [pid for pid, _ in rows]
        return self._members[category_id]

    def active_ids(self) -> list[int]:
        return self.active.ids()


def snapshot(runtime: Runtime) -> CatalogSnapshot:
    base = runtime.recommender()
    key = location(base)
    snap = _SNAPSHOTS.get(key)
    if snap is None:
        snap = _read_snapshot(base.catalog)
        _SNAPSHOTS.put(key, snap, base.settings.cache_ttl)
    return snap


def _active_links(catalog: Catalog, kinds: tuple[str, ...]) -> dict[int, frozenset[int]]:
    """Source → linked products of these kinds, both ends active: joined in SQL, ids only."""
    src, dst = aliased(Product), aliased(Product)
    q = (select(ProductLink.product_id, ProductLink.linked_id)
         .join(src, and_(src.id == ProductLink.product_id, src.is_active.is_(True)))
         .join(dst, and_(dst.id == ProductLink.linked_id, dst.is_active.is_(True)))
         .where(ProductLink.kind.in_(kinds)))
    out: dict[int, set[int]] = {}
    with catalog.db.session() as s:
        for a, b in s.execute(q):
            out.setdefault(a, set()).add(b)
    return {a: frozenset(b) for a, b in out.items()}


def _read_snapshot(catalog: Catalog) -> CatalogSnapshot:
    active = ActiveIds(catalog)
    cards = ActiveCards(catalog, active)
    return CatalogSnapshot(catalog=catalog, cards=cards, filed=Filed(catalog, cards),
                           upsell=_active_links(catalog, ("upsell",)),
                           look_links=_active_links(catalog, ("related", "crosssell")), active=active)


def default_sample(snap: CatalogSnapshot, linked: int = SAMPLE_LINKED, others: int = SAMPLE_OTHERS,
                   seed: int = SAMPLE_SEED) -> tuple[int, ...]:
    """The what-if sample: `linked` products with upsell links and `others` without, drawn by `seed`
    (the same catalog always gives the same sample), in id order; their cards are read in one batch."""
    key = ("default", linked, others, seed)
    if key not in snap._samples:
        rng = random.Random(seed)
        with_links = sorted(snap.upsell)
        upsell = set(with_links)
        without = [pid for pid in snap.active_ids() if pid not in upsell]
        picked = rng.sample(with_links, min(linked, len(with_links))) + rng.sample(without, min(others, len(without)))
        snap.cards.load(picked)
        snap._samples[key] = tuple(sorted(picked))
    return snap._samples[key]


def look_sample(snap: CatalogSnapshot, size: int = LOOK_SAMPLE, seed: int = SAMPLE_SEED) -> tuple[int, ...]:
    """Products with related or cross-sell links, drawn by `seed`, in id order."""
    rng = random.Random(seed)
    linked = sorted(snap.look_links)
    picked = tuple(sorted(rng.sample(linked, min(size, len(linked)))))
    snap.cards.load(picked)
    return picked
