"""What the benchmarks share: the store calls `similar()` makes, timed against `similar()` itself and against a
cache hit in the facade, in one process and one run, so every ratio compares numbers taken side by side."""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synth import settings_for  # noqa: E402

from engine.runtime import Runtime  # noqa: E402
from engine.service import lists  # noqa: E402
from engine.service.params import Refine  # noqa: E402
from engine.service.state import Service  # noqa: E402
from engine.store.vectors import unit  # noqa: E402
from engine.types import Filters  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(fn, items) -> list[float]:
    out = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        out.append((time.perf_counter() - t) * 1000)
    return out


# ---------------------------------------------------------------- in this process: store, facade, cache

def facade_vs_store(data: Path, sample: list[int], redis_url: str | None = None) -> dict:
    """The raw store calls of similar() against similar() itself (p50 over `sample`, default strategy), and a
    cache hit in the facade, in-process and (with `redis_url`) in Redis. Opens the data folder's store: call it
    while no other process holds it."""
    rt = Runtime(settings_for(data))
    rec, cards, store = rt.recommender(), rt.cards, rt.store

    asks_leaf: dict[int, bool] = {}  # whether similar() asks for the source's leaf too (Recommender._with_leaf)

    def raw(pid: int) -> None:  # what similar() asks of the store: the source's vector, candidates, maybe its leaf
        src = cards.get(pid)
        v = unit(store.retrieve([pid], with_vectors=["combined"])[0].vectors["combined"])
        f = Filters(exclude_ids=[pid])
        hits = store.query(v, "combined", 60, f, with_payload=False)
        if pid not in asks_leaf:  # the first (warming) call decides, untimed
            leaf = [c for c in cards.cards([h.id for h in hits]).values() if c.category_id == src.category_id]
            asks_leaf[pid] = src.category_id is not None and len(leaf) < 24
        if asks_leaf[pid]:
            store.query(v, "combined", 24, replace(f, category_ids=[src.category_id]), with_payload=False)

    for pid in sample:  # warm: the card cache, the store's pages (cold, a query reads them from disk), asks_leaf
        raw(pid)
        rec.similar(pid, n=12)
    # Interleaved, product by product: on a shared machine the load drifts within a run, and timing all the raw
    # calls before all the similar() calls would put that drift into the difference.
    raw_ms, facade_ms = [], []
    for pid in sample:
        raw_ms += timed(raw, [pid])
        facade_ms += timed(lambda p: rec.similar(p, n=12), [pid])
    paired = sorted(f - r for r, f in zip(raw_ms, facade_ms))
    out = {"products": len(rt.catalog.ids(active_only=True)), "queries": len(sample),
           "raw_store_p50_ms": round(statistics.median(raw_ms), 3),
           "similar_p50_ms": round(statistics.median(facade_ms), 3)}
    out["similar_minus_raw_ms"] = round(out["similar_p50_ms"] - out["raw_store_p50_ms"], 3)
    out["similar_over_raw"] = round(out["similar_p50_ms"] / out["raw_store_p50_ms"], 2)
    out["paired_difference_p50_ms"] = round(statistics.median(paired), 3)  # similar() − its raw calls, per product
    out["leaf_query_share"] = round(sum(asks_leaf.values()) / max(1, len(asks_leaf)), 3)
    rt.close()
    for name, url in (("facade_cache_hit", ""), ("redis_cache_hit", redis_url)):
        if url is None:
            continue
        s = settings_for(data)
        s.redis_url, s.cache_ttl = url, 300.0
        service = Service(s)
        skus = [service.runtime.cards.get(pid).sku for pid in sample[:40]]
        call = lambda sku: lists.similar(service, sku, "combined", 12, None, False, False, None,  # noqa: E731
                                         Refine())
        for sku in skus:
            call(sku)  # computed and cached

        def hit(sku: str) -> None:  # the route's path for a cached list; a miss would make the figure a lie
            served = call(sku)
            if not served[1]:
                raise SystemExit(f"{name}: {sku} was not served from the cache")

        hit_ms = timed(hit, skus * 5)
        out[f"{name}_p50_ms"] = round(statistics.median(hit_ms), 3)
        service.close()
    return out
