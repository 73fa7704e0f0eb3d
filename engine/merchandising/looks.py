"""Complete the look, judged by the catalog's curated links: the share of look items whose style the related
/ cross-sell links join to the source, beside the exact share random picks from the same complementary
categories would give."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from engine.catalog.queries import Catalog
from engine.errors import NotFound
from engine.merchandising.snapshot import LOOKS_CACHE, CatalogSnapshot, location, look_sample, snapshot
from engine.recommend.config import RecoConfig, fingerprint
from engine.recommend.looks import ComplementaryTarget, targets_for
from engine.runtime import Runtime
from engine.types import ProductCard, Recommendation


class _LinkedShare:
    """Share of look items linked to their source (`linked`, `items`), and what random picks would give."""

    items: int
    linked: int
    expected: float

    @property
    def rate(self) -> float:
        return self.linked / self.items if self.items else float("nan")

    @property
    def baseline(self) -> float:
        return self.expected / self.items if self.items else float("nan")


@dataclass(frozen=True)
class LookJudgement(_LinkedShare):
    """One product's look against the curated links of its style."""

    product_id: int
    items: int
    linked: int  # items whose style the source links to (related or cross-sell)
    expected: float  # linked items expected from random picks in the same target categories


@dataclass(frozen=True)
class LookEvaluation(_LinkedShare):
    """Share of look items linked to their source, over the look sample, beside the random baseline."""

    fingerprint: str
    queries: int  # sample products with a look
    items: int
    linked: int
    expected: float
    seconds: float
    cached: bool = False


def _target_of(rec: Recommendation, targets: Sequence[ComplementaryTarget], ids: Mapping[str, int | None],
               filed: Mapping[int, frozenset[int]]) -> ComplementaryTarget | None:
    """The map target a look item was picked for: the first of its relation whose category holds it."""
    same = [t for t in targets if t.relation == rec.relation]
    for t in same:
        if ids.get(t.category) is not None and ids[t.category] in filed.get(rec.product.id, ()):
            return t
    return same[0] if same else None


def _category_ids(catalog: Catalog, targets: Sequence[ComplementaryTarget]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for t in targets:
        try:
            out[t.category] = catalog.category_id(t.category)
        except NotFound:
            out[t.category] = None
    return out


def judge_look(snap: CatalogSnapshot, catalog: Catalog, config: RecoConfig, source: ProductCard,
               look: Sequence[Recommendation]) -> LookJudgement:
    """How many look items the source's links name, and how many random products of the same target
    categories would (their exact expectation: the linked share of each category's products, the source's own
    style left out as complete-the-look leaves it out)."""
    wanted = snap.styles(snap.look_links.get(source.id, ()))
    own = source.group_key or source.sku
    targets = targets_for(source, config.complementary)
    ids = _category_ids(catalog, targets)
    share: dict[str, float] = {}
    for cat, cid in ids.items():
        pool = [p for p in (snap.in_category(cid) if cid is not None else []) if snap.style(p) != own]
        share[cat] = sum(snap.style(p) in wanted for p in pool) / len(pool) if pool else 0.0
    linked, expected = 0, 0.0
    for rec in look:
        if (rec.product.group_key or rec.product.sku) in wanted:
            linked += 1
        target = _target_of(rec, targets, ids, snap.filed)
        expected += share.get(target.category, 0.0) if target is not None else 0.0
    return LookJudgement(source.id, len(look), linked, expected)


def judge_product_look(runtime: Runtime, config: RecoConfig, product: int | str, by: str = "combined"
                       ) -> tuple[list[Recommendation], LookJudgement]:
    """The look of one product under `config`, and its judgement."""
    base = runtime.recommender()
    rec = runtime.recommender(config)
    look = rec.complete_the_look(product, by=by)
    source = base.catalog.card(base.catalog.get(product))
    return look, judge_look(snapshot(runtime), base.catalog, config, source, look)


def evaluate_looks(runtime: Runtime, config: RecoConfig, sample: Sequence[int] | None = None,
                   by: str = "combined") -> LookEvaluation:
    """The looks of the sample products (default: `look_sample`) under `config`, judged by the links. Cached
    per data location, config fingerprint, sample and vector kind for the settings' cache TTL."""
    base = runtime.recommender()
    rec = runtime.recommender(config)
    snap = snapshot(runtime)
    ids = tuple(int(i) for i in sample) if sample is not None else look_sample(snap)
    key = (location(base), fingerprint(config), ids, by)
    hit = LOOKS_CACHE.get(key)
    if hit is not None:
        return replace(hit, cached=True)
    t0 = time.perf_counter()
    queries, items, linked, expected = 0, 0, 0, 0.0
    for pid in ids:
        if pid not in snap.cards:
            continue
        try:
            look = rec.complete_the_look(pid, by=by)
        except NotFound:
            continue
        if not look:
            continue
        j = judge_look(snap, base.catalog, config, snap.cards[pid], look)
        queries, items, linked, expected = queries + 1, items + j.items, linked + j.linked, expected + j.expected
    result = LookEvaluation(fingerprint(config), queries, items, linked, expected, time.perf_counter() - t0)
    LOOKS_CACHE.put(key, result, base.settings.cache_ttl)
    return result
