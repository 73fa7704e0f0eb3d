"""The Recommender facade: the one entry point the console, the CLI and the HTTP service call.

Every call validates its arguments before touching anything, reads only, and returns `Recommendation`
records carrying the product card, the score and the vector that produced it.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

from .catalog.queries import Catalog
from .encoders.base import ImageEncoder, TextEncoder
from .errors import NotFound, ValidationError, VitrinaError
from .images import load_image
from .settings import Settings
from .store.base import CollectionSpec, StoreHit, VectorStore
from .types import VECTOR_KINDS, Filters, ProductCard, Recommendation
from .vectors import query_combined, unit

OVERFETCH = 5  # candidates fetched per result, so reranking and collapse have room
POPULARITY_TTL = 60.0  # seconds a popularity snapshot from the event log is reused


class CardCache:
    """Product cards by id, reused while the catalog is unchanged. The check is one indexed query per call
    (newest updated_at and highest id), far cheaper than rebuilding cards with their categories and photos."""

    def __init__(self, catalog: Catalog, max_entries: int = 200_000):
        self.catalog, self.max_entries = catalog, max_entries
        self._by_id: dict[int, ProductCard] = {}
        self._by_sku: dict[str, int] = {}
        self._version: tuple | None = None
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._by_sku.clear()

    def _check(self) -> None:
        from sqlalchemy import func, select

        from .catalog.models import Product

        with self.catalog.db.engine.connect() as conn:
            version = tuple(conn.execute(select(func.max(Product.updated_at), func.max(Product.id))).one())
        if version != self._version:
            self.clear()
            self._version = version

    def _keep(self, cards: dict[int, ProductCard]) -> None:
        with self._lock:
            if len(self._by_id) + len(cards) > self.max_entries:
                self._by_id.clear()
                self._by_sku.clear()
            self._by_id.update(cards)
            self._by_sku.update((c.sku, c.id) for c in cards.values())

    def cards(self, ids: Sequence[int]) -> dict[int, ProductCard]:
        self._check()
        missing = [i for i in ids if i not in self._by_id]
        if missing:
            self._keep(self.catalog.cards(missing))
        return {i: self._by_id[i] for i in ids if i in self._by_id}

    def get(self, key: int | str) -> ProductCard:
        """A card by id or sku; NotFound / ValidationError exactly as Catalog.get."""
        self._check()
        pid = self._by_sku.get(key.strip()) if isinstance(key, str) else key
        if isinstance(pid, int) and not isinstance(pid, bool) and pid in self._by_id:
            return self._by_id[pid]
        card = self.catalog.card(self.catalog.get(key))
        self._keep({card.id: card})
        return card


class Recommender:
    def __init__(self, catalog: Catalog, store: VectorStore, text_encoder: TextEncoder,
                 image_encoder: ImageEncoder, settings: Settings | None = None, config=None):
        from .config import RecoConfig

        self.catalog, self.store = catalog, store
        self.text_encoder, self.image_encoder = text_encoder, image_encoder
        self.settings = settings or Settings()
        self.config: RecoConfig = config or RecoConfig.default(self.settings)
        self._pop: tuple[float, dict[int, float]] | None = None
        self._pop_lock = threading.Lock()
        self._cards = CardCache(catalog)

    @classmethod
    def from_config(cls, path: str | Path, settings: Settings | None = None) -> "Recommender":
        """How a production service starts: the exported config names the strategies, rules, maps and the
        encoders; opening a collection built by other encoders fails with EncoderMismatch."""
        from .config import RecoConfig
        from .runtime import Runtime

        config = RecoConfig.load(path)
        rt = Runtime(settings or Settings(), config_path=str(path))
        rt.__dict__["config"] = config
        return rt.recommender

    def popularity(self) -> dict[int, float]:
        """Time-decayed popularity per product from the event log (empty without events), briefly cached."""
        from .analytics import popularity

        db = getattr(self.catalog, "db", None)
        if db is None:
            return {}
        with self._pop_lock:
            if self._pop is None or time.monotonic() - self._pop[0] > POPULARITY_TTL:
                ev = self.config.events
                self._pop = (time.monotonic(), popularity(db, half_life_hours=ev.half_life_hours,
                                                          weights=ev.weights))
            return self._pop[1]

    def card(self, key: int | str) -> ProductCard:
        """A product's card by id or sku (NotFound when unknown), from the shared card cache."""
        return self._cards.get(key)

    def cards(self, ids: Sequence[int]) -> dict[int, ProductCard]:
        return self._cards.cards(ids)

    def invalidate(self) -> None:
        """Forget cached popularity (after new events are logged in bulk)."""
        self._pop = None
        self._cards.clear()

    # ---- validation -------------------------------------------------------------------------------
    def _n(self, n) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer, float)):
            raise ValidationError(f"n must be a whole number, got {n!r}")
        if isinstance(n, float) and (math.isnan(n) or not n.is_integer()):
            raise ValidationError(f"n must be a whole number, got {n!r}")
        n = int(n)
        if n <= 0:
            raise ValidationError(f"n must be at least 1, got {n}")
        if n > self.settings.max_results:
            raise ValidationError(f"n must be at most {self.settings.max_results}, got {n}")
        return n

    @staticmethod
    def _by(by: str) -> str:
        if by not in VECTOR_KINDS:
            raise ValidationError(f"unknown vector {by!r}: use one of {', '.join(VECTOR_KINDS)}")
        return by

    def _spec(self) -> CollectionSpec:
        spec = self.store.spec()
        if spec is None:
            raise VitrinaError("the vector index is empty: run `python -m engine index` first")
        return spec

    def _strategy(self, strategy: str | None):
        return self.config.strategy(strategy)

    # ---- calls ------------------------------------------------------------------------------------
    def similar(self, product: int | str, by: str = "combined", n: int = 12, filters: Filters | None = None,
                strategy: str | None = None, exclude_same_style: bool = False,
                exclude_same_brand: bool = False) -> list[Recommendation]:
        """Products like `product` (never itself), by one vector kind, within the filters, reranked."""
        n, by = self._n(n), self._by(by)
        filters = replace(filters or Filters()).validate()
        strat = self._strategy(strategy)
        source = self._cards.get(product)
        self._spec()
        stored = self.store.retrieve([source.id], with_vectors=[by])
        if not stored or by not in stored[0].vectors:
            if by == "image":
                raise NotFound(f"product {source.sku} has no photo vector: use text or combined similarity")
            raise NotFound(f"product {source.sku} is not indexed yet: run `python -m engine index`")
        filters.exclude_ids = sorted(set(filters.exclude_ids) | {source.id})
        if exclude_same_style and source.group_key:
            filters.exclude_groups = sorted(set(filters.exclude_groups) | {source.group_key})
        if exclude_same_brand and source.brand:
            filters.exclude_brands = sorted(set(filters.exclude_brands) | {source.brand})
        return self._ranked(stored[0].vectors[by], by, n, filters, strat, source)

    def search_by_text(self, query: str, n: int = 12, filters: Filters | None = None, space: str = "text",
                       strategy: str | None = None) -> list[Recommendation]:
        """Free text in any supported language; space="image" searches photos with CLIP's text tower."""
        n = self._n(n)
        filters = replace(filters or Filters()).validate()
        if not isinstance(query, str) or not query.strip():
            raise ValidationError("the search text is empty")
        if len(query) > self.settings.max_query_chars:
            raise ValidationError(f"the search text is {len(query)} characters long; "
                                  f"the limit is {self.settings.max_query_chars}")
        spec = self._spec()
        if space == "image":
            if not self.image_encoder.supports_text:
                raise ValidationError(f"text-to-photo search needs CLIP; the image encoder in use is "
                                      f"{self.image_encoder.name}")
            vec, by = self.image_encoder.encode_text([query.strip()])[0], "image"
        elif space in ("text", "combined"):
            t = self.text_encoder.encode([query.strip()])[0]
            if space == "text":
                vec, by = t, "text"
            else:
                vec, by = query_combined(t, None, spec.text_weight, spec.text_dim, spec.image_dim), "combined"
        else:
            raise ValidationError(f"unknown search space {space!r}: use text, combined or image")
        return self._ranked(vec, by, n, filters, self._strategy(strategy), None)

    def search_by_image(self, image: bytes | str | Path | BinaryIO, n: int = 12, filters: Filters | None = None,
                        strategy: str | None = None) -> list[Recommendation]:
        """Photo in, visually closest products out (image vectors)."""
        n = self._n(n)
        filters = replace(filters or Filters()).validate()
        img = load_image(image, self.settings.max_upload_bytes, self.settings.max_pixels)
        self._spec()
        vec = self.image_encoder.encode([img])[0]
        return self._ranked(vec, "image", n, filters, self._strategy(strategy), None)

    # ---- ranking ----------------------------------------------------------------------------------
    def _ranked(self, vector: np.ndarray, by: str, n: int, filters: Filters, strategy,
                source: ProductCard | None) -> list[Recommendation]:
        from .rerank import rerank

        div = self.config.diversity
        need_vectors = div.mmr_lambda is not None
        with_vectors = [by] if need_vectors else ()
        q = unit(vector)
        hits = self.store.query(q, using=by, limit=n * OVERFETCH, filters=filters, with_vectors=with_vectors)
        if source is not None and source.category_id is not None and not filters.category_ids:
            # Similar items are category-aware: the source's own leaf always contributes candidates, so the
            # reranker's category factor has same-leaf items to promote even when other leaves are nearer.
            leaf = replace(filters, category_ids=[source.category_id])
            seen = {h.id for h in hits}
            hits += [h for h in self.store.query(q, using=by, limit=n * 2, filters=leaf, with_vectors=with_vectors)
                     if h.id not in seen]
        candidates = self._candidates(hits, by)
        vectors = {h.id: h.vectors[by] for h in hits if by in h.vectors} if need_vectors else None
        return rerank(source, candidates, strategy, n, vectors=vectors, mmr_lambda=div.mmr_lambda,
                      collapse_k=div.collapse_k, rules=self.config.rules,
                      lang=source.language if source else None, params=self.config.factors,
                      fetch_product=self._pinned(filters, source))

    def _candidates(self, hits: Sequence[StoreHit], by: str) -> list[Recommendation]:
        cards = self._cards.cards([h.id for h in hits])
        pop = self.popularity()
        out = []
        for h in hits:
            card = cards.get(h.id)
            if card is None:
                continue
            if pop:
                card = replace(card, popularity=pop.get(h.id, 0.0))
            out.append(Recommendation(product=card, score=h.score, vector=by, similarity=h.score))
        return out

    def complete_the_look(self, product: int | str, n_per_relation: int | None = None,
                          filters: Filters | None = None, by: str = "combined") -> list[Recommendation]:
        """The best items of each complementary category (from the config's map) for the source product."""
        from .looks import complete_the_look, targets_for

        if n_per_relation is not None:
            n_per_relation = self._n(n_per_relation)
        by = self._by(by)
        filters = replace(filters or Filters()).validate()
        source = self._cards.get(product)
        self._spec()
        stored = self.store.retrieve([source.id], with_vectors=[by])
        if not stored or by not in stored[0].vectors:
            raise NotFound(f"product {source.sku} is not indexed yet: run `python -m engine index`")
        vec = stored[0].vectors[by]
        targets = targets_for(source, self.config.complementary)
        per_cat: dict[str, list[Recommendation]] = {}
        for t in targets:
            try:
                cat_id = self.catalog.category_id(t.category)
            except NotFound:
                continue  # a map entry for a category this catalog does not have
            f = replace(filters, category_ids=[cat_id], exclude_ids=sorted(set(filters.exclude_ids) | {source.id}))
            hits = self.store.query(unit(vec), using=by, limit=max(20, 5 * t.max_items), filters=f)
            per_cat[t.category] = self._candidates(hits, by)
        return complete_the_look(source, self.config.complementary, per_cat, n_per_relation,
                                 rules=self.config.rules, lang=source.language, params=self.config.factors)

    def trending(self, n: int = 12, category: int | str | None = None,
                 filters: Filters | None = None) -> list[Recommendation]:
        """Most popular products now (time-decayed events), optionally within a category and filters."""
        from .analytics import trending
        from .rerank import reason_text

        n = self._n(n)
        filters = replace(filters or Filters()).validate()
        cat_id = self.catalog.category_id(category) if category is not None else None
        ev = self.config.events
        ranked = trending(self.catalog.db, n=min(self.settings.max_results, n * OVERFETCH), category_id=cat_id,
                          half_life_hours=ev.half_life_hours, weights=ev.weights)
        cards = self._cards.cards([r.product_id for r in ranked])
        top = max((r.score for r in ranked), default=0.0) or 1.0
        out = []
        for r in ranked:
            card = cards.get(r.product_id)
            if card is None or not filters.matches(card):
                continue
            out.append(Recommendation(product=replace(card, popularity=r.score), score=r.score / top,
                                      vector="trending", rank=len(out) + 1,
                                      reasons=[reason_text("popular", card.language or "en")]))
            if len(out) == n:
                break
        return out

    def _pinned(self, filters: Filters, source: ProductCard | None):
        """Pinned products outside the candidates are shown only when they pass the caller's filters."""
        def fetch(pid: int) -> ProductCard | None:
            try:
                card = self._cards.get(pid)
            except NotFound:
                return None
            if source is not None and card.id == source.id:
                return None
            return card if filters.matches(card) else None
        return fetch
