"""What-if figures: what a config and strategy would show over a fixed, seeded sample of products — upsell
recall and NDCG, price distance, stock, newness, diversity, coverage. Every figure comes from the real
Recommender built from the config under study, so a config exported after tuning ranks as its figures said.

Every figure is a property of the sample's lists, never a share of the whole catalog, so it means the same at
100 products and at 100,000: coverage is the share of distinct products among the items the lists show (a
share of the catalog was capped at sample × k / catalog size, 0.8% at 100,000), recall is measured against
the full list of each sampled product's upsell styles, capped at k (a product with more upsell styles than
k can still score 1). The sample's size is reported beside the figures."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Literal, Sequence

import numpy as np

from engine.errors import NotFound, ValidationError
from engine.merchandising.snapshot import WHAT_IF_CACHE, default_sample, location, snapshot
from engine.metrics import intra_list_diversity, ndcg_at_k
from engine.recommend.config import RecoConfig, fingerprint
from engine.recommend.rerank import age_days
from engine.runtime import Runtime
from engine.settings import Settings
from engine.types import VECTOR_KINDS, Recommendation

NEW_DAYS = 30.0  # a product created within this many days counts as new


@dataclass(frozen=True)
class MetricSpec:
    name: str  # the WhatIf attribute
    label: str  # "{k}" is replaced by the list length
    help: str
    better: Literal["higher", "lower", "neither"]
    percent: bool  # shown as a percentage


WHAT_IF_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("recall", "Upsell recall@{k}", "Share of a product's upsell styles (its upsell links) that its "
               "similar items show, out of at most k (all of them when it has fewer), averaged over the sample "
               "products that have upsell links.", "higher", False),
    MetricSpec("ndcg", "Upsell NDCG@{k}", "Like recall, rewarding upsell styles shown near the top.", "higher", False),
    MetricSpec("price_distance", "Price distance", "Mean |price − source price| / source price of the items "
               "shown.", "neither", True),
    MetricSpec("in_stock", "In stock", "Share of the items shown that are in stock.", "higher", True),
    MetricSpec("new", "New", f"Share of the items shown created in the last {NEW_DAYS:g} days.", "neither", True),
    MetricSpec("diversity", "Diversity", "Intra-list diversity: mean pairwise 1 − cosine of the vectors of the "
               "items of a list.", "higher", False),
    MetricSpec("coverage", "Coverage", "Distinct products among all the items the sample lists show: 100% when "
               "no product appears in two lists, low when the same products fill every list (as a strong "
               "popularity weight does). A share of the lists, so it means the same at any catalog size.",
               "higher", True),
)


@dataclass(frozen=True)
class WhatIf:
    """What a config and strategy would show over the sample; every figure is a mean over its lists."""

    strategy: str
    fingerprint: str
    k: int
    by: str
    queries: int  # sample products answered
    upsell_queries: int  # of which have upsell links
    sample: int  # products in the sample asked about
    active: int  # active products in the catalog the sample is drawn from
    shown: int  # items shown over all the sample lists
    distinct: int  # distinct products among them
    recall: float
    ndcg: float
    price_distance: float
    in_stock: float
    new: float
    diversity: float
    coverage: float
    seconds: float
    cached: bool = False

    def value(self, name: str) -> float:
        return float(getattr(self, name))


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def _k(k: int, settings: Settings) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= settings.max_results:
        raise ValidationError(f"k must be a whole number from 1 to {settings.max_results}, got {k!r}")
    return k


def capped_recall(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Relevant items among the first k, out of the most the first k could hold: min(k, |relevant|)."""
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


def what_if(runtime: Runtime, config: RecoConfig, strategy: str | None = None, sample: Sequence[int] | None = None,
            k: int = 10, by: str = "combined", now: datetime | None = None) -> WhatIf:
    """Similar items of every sample product (default: `default_sample`) ranked by `config` and `strategy`
    (default: the config's default), and what the lists are like. Cached per data location, config
    fingerprint, strategy, sample, k and vector kind for the settings' cache TTL."""
    base = runtime.recommender()
    k = _k(k, base.settings)
    if by not in VECTOR_KINDS:
        raise ValidationError(f"unknown vector {by!r}: use one of {', '.join(VECTOR_KINDS)}")
    rec = runtime.recommender(config)
    name = strategy or config.default_strategy
    config.strategy(name)
    snap = snapshot(runtime)
    ids = tuple(int(i) for i in sample) if sample is not None else default_sample(snap)
    key = (location(base), fingerprint(config), name, ids, k, by, now)
    hit = WHAT_IF_CACHE.get(key)
    if hit is not None:
        return replace(hit, cached=True)

    t0 = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    snap.cards.load(list(ids) + [d for pid in ids for d in snap.upsell.get(pid, ())])  # one batch, not per id
    lists: list[tuple[int, list[Recommendation]]] = []
    for pid in ids:
        if pid not in snap.cards:
            continue
        try:
            lists.append((pid, rec.similar(pid, by=by, n=k, strategy=name)))
        except NotFound:  # not indexed yet, or no photo for by="image"
            continue
    shown = sorted({r.product.id for _, recs in lists for r in recs})
    vectors = {h.id: h.vectors[by] for h in base.store.retrieve(shown, with_vectors=[by]) if by in h.vectors}

    recall, ndcg, distance, stock, new, spread = [], [], [], [], [], []
    for pid, recs in lists:
        source = snap.cards[pid]
        relevant = snap.styles(snap.upsell.get(pid, ()))
        if relevant:
            styles = list(dict.fromkeys(r.product.group_key or r.product.sku for r in recs))
            recall.append(capped_recall(styles, relevant, k))
            ndcg.append(ndcg_at_k(styles, relevant, k))
        if not recs:
            continue
        if source.price > 0:
            distance.append(_mean([abs(r.product.price - source.price) / source.price for r in recs]))
        stock.append(_mean([1.0 if r.product.in_stock else 0.0 for r in recs]))
        new.append(_mean([1.0 if (age := age_days(r.product, now)) is not None and age <= NEW_DAYS else 0.0
                          for r in recs]))
        spread.append(intra_list_diversity([vectors[r.product.id] for r in recs if r.product.id in vectors]))
    items = sum(len(recs) for _, recs in lists)
    result = WhatIf(
        strategy=name, fingerprint=fingerprint(config), k=k, by=by, queries=len(lists), upsell_queries=len(recall),
        sample=len(ids), active=len(snap.cards), shown=items, distinct=len(shown),
        recall=_mean(recall), ndcg=_mean(ndcg), price_distance=_mean(distance), in_stock=_mean(stock),
        new=_mean(new), diversity=_mean(spread), coverage=len(shown) / items if items else float("nan"),
        seconds=time.perf_counter() - t0)
    WHAT_IF_CACHE.put(key, result, base.settings.cache_ttl)
    return result
