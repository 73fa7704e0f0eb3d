"""The Recommender facade: the one entry point the console, the CLI and the HTTP service call.

Every call validates its arguments before touching anything, reads only, and returns `Recommendation`
records carrying the product card, the score and the vector that produced it.
"""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Protocol, Sequence

import numpy as np

from engine.catalog.queries import Catalog
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.encoders.images import load_image
from engine.errors import NotFound, ValidationError, VitrinaError
from engine.insights.popularity import trending
from engine.photos.confidence import LOOSE, LOOSE_LABEL
from engine.photos.search import PhotoResult
from engine.photos.search import search as photo_search
from engine.recommend import fbt, personal
from engine.recommend.cards import CardCache, PopularityCache
from engine.recommend.config import RecoConfig
from engine.recommend.looks import complete_the_look, targets_for
from engine.recommend.personal import PersonalisedResult
from engine.recommend.profiles import ProfileStore
from engine.recommend.rerank import REASON_TEXT, reason_text, rerank
from engine.recommend.rules import Styles, hider
from engine.search.text import TextSearch, TextSearchResult
from engine.settings import Settings
from engine.store.base import CollectionSpec, Nearest, StoreHit, VectorStore
from engine.store.vectors import query_combined, unit
from engine.text import is_blank, text_problem
from engine.types import VECTOR_KINDS, Filters, ProductCard, Recommendation, copied

OVERFETCH = 5  # candidates fetched per result, so reranking and collapse have room


class Parts(Protocol):
    """What a Recommender runs on: a Runtime provides it (engine.runtime builds every part once per data
    location, so recommenders for different configs share the open store, the encoders, the product cards
    and the popularity snapshots)."""

    settings: Settings
    catalog: Catalog
    store: VectorStore
    text_encoder: TextEncoder
    image_encoder: ImageEncoder
    cards: CardCache
    popularity: PopularityCache
    profiles: ProfileStore


class Recommender:
    """Every list a shopper can be shown, ranked by one config. Cheap to build: all state but the config
    lives in the parts, so a config under study in the console is one more Recommender, not a second copy
    of the engine. Build one with `Runtime.recommender(config)` or `Runtime.from_config(path).recommender()`."""

    def __init__(self, parts: Parts, config: RecoConfig):
        self.parts, self.config = parts, config

    # The parts are read through on every use: a runtime that closed and reopened its store is followed.
    @property
    def settings(self) -> Settings:
        return self.parts.settings

    @property
    def catalog(self) -> Catalog:
        return self.parts.catalog

    @property
    def store(self) -> VectorStore:
        return self.parts.store

    @property
    def text_encoder(self) -> TextEncoder:
        return self.parts.text_encoder

    @property
    def image_encoder(self) -> ImageEncoder:
        return self.parts.image_encoder

    @property
    def profiles(self) -> ProfileStore:
        """Shopper profiles and dislikes of this data location (shared by every config)."""
        return self.parts.profiles

    def popularity(self) -> dict[int, float]:
        """Time-decayed popularity per product from the event log (empty without events), briefly cached and
        shared by every recommender that weighs events alike."""
        ev = self.config.events
        return self.parts.popularity.get(ev.half_life_hours, ev.weights)

    def card(self, key: int | str) -> ProductCard:
        """A product's card by id or sku (NotFound when unknown), from the shared card cache."""
        return self.parts.cards.get(key)

    def cards(self, ids: Sequence[int]) -> dict[int, ProductCard]:
        return self.parts.cards.cards(ids)

    def invalidate(self) -> None:
        """Forget cached popularity and cards (after new events or catalog edits in bulk)."""
        self.parts.popularity.clear()
        self.parts.cards.clear()

    # ---- validation -------------------------------------------------------------------------------
    def check_n(self, n) -> int:
        """`n` as a whole number within 1..max_results, or ValidationError."""
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
        self.parts.cards.check()  # once per request: every card below is read without a recheck
        n, by = self.check_n(n), self._by(by)
        filters = replace(filters or Filters()).validate()
        strat = self._strategy(strategy)
        source = self.parts.cards.get(product, checked=True)
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

    def _check_query(self, query: str) -> None:
        if not isinstance(query, str) or is_blank(query):  # NUL, whitespace and bidi marks say nothing
            raise ValidationError("the search text is empty")
        problem = text_problem(query)
        if problem is not None:
            raise ValidationError(f"the search text {problem}")
        if len(query) > self.settings.max_query_chars:
            raise ValidationError(f"the search text is {len(query)} characters long; "
                                  f"the limit is {self.settings.max_query_chars}")

    def text_search(self, query: str, n: int = 12, filters: Filters | None = None, strategy: str | None = None,
                    *, mode: str | None = None, ignore: Sequence[str] = (),
                    understand: bool = True) -> TextSearchResult:
        """Free text in any supported language: exact sku / name matches first, then hybrid (dense + lexical)
        search held to the colour, gender, category and price the query names (`ignore` leaves kinds of them
        out: a chip taken off), with a confidence and the "loosely related" mark. `mode` dense or lexical
        runs one list alone (evaluation); `understand=False` reads no attributes. See engine.search.text."""
        self.parts.cards.check()  # once per request: every card below is read without a recheck
        n = self.check_n(n)
        filters = replace(filters or Filters()).validate()
        self._check_query(query)
        if isinstance(ignore, str) or not all(isinstance(k, str) for k in ignore):
            raise ValidationError(f"ignore must be a list of attribute kinds, got {ignore!r}")
        if strategy is not None:
            self._strategy(strategy)
        self._spec()
        return TextSearch(self, rerank, REASON_TEXT["featured"].values()).run(query, n, filters, strategy, mode,
                                                                              ignore, understand)

    def search_by_text(self, query: str, n: int = 12, filters: Filters | None = None, space: str = "text",
                       strategy: str | None = None) -> list[Recommendation]:
        """Free text in any supported language; space="image" searches photos with CLIP's text tower. The text
        space is text_search's items (hybrid, attribute-aware); combined and image rank by one vector."""
        if space == "text":
            return self.text_search(query, n, filters, strategy).items
        self.parts.cards.check()  # once per request: every card below is read without a recheck
        n = self.check_n(n)
        filters = replace(filters or Filters()).validate()
        self._check_query(query)
        spec = self._spec()
        if space == "image":
            if not self.image_encoder.supports_text:
                raise ValidationError(f"text-to-photo search needs CLIP; the image encoder in use is "
                                      f"{self.image_encoder.name}")
            vec, by = self.image_encoder.encode_text([query.strip()])[0], "image"
        elif space == "combined":
            t = self.text_encoder.encode([query.strip()])[0]
            vec, by = query_combined(t, None, spec.text_weight, spec.text_dim, spec.image_dim), "combined"
        else:
            raise ValidationError(f"unknown search space {space!r}: use text, combined or image")
        return self._ranked(vec, by, n, filters, self._strategy(strategy), None)

    def search_by_image(self, image: bytes | str | Path | BinaryIO, n: int = 12, filters: Filters | None = None,
                        strategy: str | None = None) -> list[Recommendation]:
        """Photo in, visually closest products out (see search_by_photo, which also says how good the match is)."""
        return self.search_by_photo(image, n, filters, strategy).items

    def search_by_photo(self, image: bytes | str | Path | BinaryIO, n: int = 12, filters: Filters | None = None,
                        strategy: str | None = None) -> PhotoResult:
        """The product is found in the photo, its nearest photos are re-ranked by local features with geometric
        verification (engine.photos), then by the strategy. When nothing matches well the result's `match` is
        "loose" and every item's reasons start with "loosely related"."""
        self.parts.cards.check()  # once per request: every card below is read without a recheck
        n = self.check_n(n)
        filters = replace(filters or Filters()).validate()
        img = load_image(image, self.settings.max_upload_bytes, self.settings.max_pixels)
        self._spec()
        found = photo_search(img, self.image_encoder, self.store, n * OVERFETCH, filters, self._photo_paths,
                             self.settings.max_upload_bytes, self.settings.max_pixels,
                             float(self.config.search.photo_min_confidence))
        div = self.config.diversity
        vectors = None
        if div.mmr_lambda is not None:
            stored = self.store.retrieve([c.id for c in found.candidates], with_vectors=["image"])
            vectors = {h.id: h.vectors["image"] for h in stored if "image" in h.vectors}
        items = rerank(None, self._candidates([StoreHit(c.id, c.score) for c in found.candidates], "image"),
                       self._strategy(strategy), n, vectors=vectors, mmr_lambda=div.mmr_lambda,
                       collapse_k=div.collapse_k, rules=self.config.rules, lang=None, params=self.config.factors,
                       fetch_product=self.pinned(filters), boosts=self.config.boosts, styles=self.rule_styles(),
                       now=datetime.now(timezone.utc))
        if found.match == LOOSE:
            items = [replace(r, reasons=[LOOSE_LABEL, *r.reasons]) for r in items]
        return PhotoResult(items, found.match, found.evidence, found.confidence)

    def _photo_paths(self, ids: Sequence[int]) -> dict[int, str | None]:
        """The main photo of each product (a path or a URL), for local-feature matching."""
        return {pid: card.image for pid, card in self.parts.cards.cards(ids, checked=True).items()}

    # ---- ranking ----------------------------------------------------------------------------------
    def _ranked(self, vector: np.ndarray, by: str, n: int, filters: Filters, strategy,
                source: ProductCard | None) -> list[Recommendation]:
        div = self.config.diversity
        need_vectors = div.mmr_lambda is not None
        with_vectors = [by] if need_vectors else ()
        # The cards come from the card cache: no payload. Similar items are category-aware: the source's own leaf
        # always contributes candidates, so the reranker's category factor has same-leaf items to promote even
        # when other leaves are nearer (_with_leaf).
        vector = unit(vector)
        hits = self.store.query(vector, by, n * OVERFETCH, filters, with_vectors, with_payload=False)
        candidates = self._candidates(hits, by)
        if source is not None and source.category_id is not None and not filters.category_ids:
            hits, candidates = self._with_leaf(vector, by, n * 2, filters, with_vectors, source, hits, candidates)
        vectors = {h.id: h.vectors[by] for h in hits if by in h.vectors} if need_vectors else None
        return rerank(source, candidates, strategy, n, vectors=vectors, mmr_lambda=div.mmr_lambda,
                      collapse_k=div.collapse_k, rules=self.config.rules,
                      lang=source.language if source else None, params=self.config.factors,
                      fetch_product=self.pinned(filters, source), boosts=self.config.boosts,
                      styles=self.rule_styles(), now=datetime.now(timezone.utc))

    def _with_leaf(self, vector: np.ndarray, by: str, limit: int, filters: Filters, with_vectors: Sequence[str],
                   source: ProductCard, hits: list[StoreHit], candidates: list[Recommendation]):
        """The candidates plus the `limit` nearest of the source's leaf that they lack. When the candidates already
        hold `limit` products of that very leaf, the leaf query would return only products they have (every
        product of the leaf nearer than those is a nearer candidate too), so it is not asked: on a catalog whose
        neighbours share a category this saves a store query per list, with the same list."""
        if sum(c.product.category_id == source.category_id for c in candidates) >= limit:
            return hits, candidates
        leaf_only = replace(filters, category_ids=[source.category_id])
        seen = {h.id for h in hits}
        new = [h for h in self.store.query(vector, by, limit, leaf_only, with_vectors, with_payload=False)
               if h.id not in seen]
        return hits + new, candidates + self._candidates(new, by)

    def rule_styles(self) -> Styles:
        """The group_key of every product a per-style rule names, from the card cache: a style hide must hide
        a blue variant even when the filters kept the black one the rule names out of the candidates."""
        ids = sorted({r.product_id for r in self.config.rules if r.match == "style"})
        if not ids:
            return {}
        return {pid: card.group_key for pid, card in self.parts.cards.cards(ids, checked=True).items()}

    def _candidates(self, hits: Sequence[StoreHit], by: str) -> list[Recommendation]:
        cards = self.parts.cards.cards([h.id for h in hits], checked=True)
        pop = self.popularity()
        out = []
        for h in hits:
            card = cards.get(h.id)
            if card is None:
                continue
            if pop:
                card = copied(card, popularity=pop.get(h.id, 0.0))
            out.append(Recommendation(product=card, score=h.score, vector=by, similarity=h.score))
        return out

    def complete_the_look(self, product: int | str, n_per_relation: int | None = None,
                          filters: Filters | None = None, by: str = "combined") -> list[Recommendation]:
        """The best items of each complementary category (from the config's map) for the source product."""
        self.parts.cards.check()  # once per request: every card below is read without a recheck
        if n_per_relation is not None:
            n_per_relation = self.check_n(n_per_relation)
        by = self._by(by)
        filters = replace(filters or Filters()).validate()
        source = self.parts.cards.get(product, checked=True)
        self._spec()
        stored = self.store.retrieve([source.id], with_vectors=[by])
        if not stored or by not in stored[0].vectors:
            raise NotFound(f"product {source.sku} is not indexed yet: run `python -m engine index`")
        vec = unit(stored[0].vectors[by])
        now = datetime.now(timezone.utc)
        # Hidden here, where the rule products' styles are known, so a style hide covers every variant.
        hidden = hider(source, self.config.rules, now=now, styles=self.rule_styles())
        targets = targets_for(source, self.config.complementary)
        queries: dict[str, Nearest] = {}  # one store call for every complementary category
        for t in targets:
            try:
                cat_id = self.catalog.category_id(t.category)
            except NotFound:
                continue  # a map entry for a category this catalog does not have
            f = replace(filters, category_ids=[cat_id], exclude_ids=sorted(set(filters.exclude_ids) | {source.id}))
            queries[t.category] = Nearest(vec, by, max(20, 5 * t.max_items), f, with_payload=False)
        per_cat = {category: [c for c in self._candidates(hits, by) if not hidden(c.product)]
                   for category, hits in zip(queries, self.store.query_batch(list(queries.values())))}
        return complete_the_look(source, self.config.complementary, per_cat, n_per_relation,
                                 rules=self.config.rules, lang=source.language, params=self.config.factors,
                                 now=now, boosts=self.config.boosts)

    def trending(self, n: int = 12, category: int | str | None = None,
                 filters: Filters | None = None) -> list[Recommendation]:
        """Most popular products now (time-decayed events), optionally within a category and filters."""
        self.parts.cards.check()  # once per request: every card below is read without a recheck
        n = self.check_n(n)
        filters = replace(filters or Filters()).validate()
        cat_id = self.catalog.category_id(category) if category is not None else None
        ev = self.config.events
        ranked = trending(self.catalog.db, n=min(self.settings.max_results, n * OVERFETCH), category_id=cat_id,
                          half_life_hours=ev.half_life_hours, weights=ev.weights)
        cards = self.parts.cards.cards([r.product_id for r in ranked], checked=True)
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

    def pinned(self, filters: Filters, source: ProductCard | None = None):
        """Pinned products outside the candidates are shown only when they pass the caller's filters."""
        def fetch(pid: int) -> ProductCard | None:
            try:
                card = self.parts.cards.get(pid, checked=True)
            except NotFound:
                return None
            if source is not None and card.id == source.id:
                return None
            return card if filters.matches(card) else None
        return fetch

    # ---- lists built on the above -------------------------------------------------------------------
    def personalised(self, user_id: str | None, n: int = 12, filters: Filters | None = None,
                     not_like: Sequence[int | str] = (), *, now: datetime | None = None) -> PersonalisedResult:
        """"Recommended for you": nearest to the shopper's taste, away from what they said they do not
        like, trending (and saying so) when there is nothing to go on. See engine.recommend.personal."""
        return personal.personalised(self, user_id, n, filters, not_like, now=now)

    def frequently_bought_together(self, product: int | str, n: int = 6,
                                   min_support: int = fbt.DEFAULT_MIN_SUPPORT,
                                   min_confidence: float = fbt.DEFAULT_MIN_CONFIDENCE,
                                   min_lift: float = fbt.DEFAULT_MIN_LIFT,
                                   filters: Filters | None = None) -> fbt.FBTResult:
        """Products carted or bought with `product`, topped up by complete the look. See engine.recommend.fbt."""
        return fbt.frequently_bought_together(self, product, n, min_support, min_confidence, min_lift, filters)
