"""Similar items are category-aware: the source's leaf contributes candidates even when other leaves are nearer.
The leaf query is skipped when the nearest candidates already hold enough of the leaf, because it could only
return products they have; these tests hold that claim against the store on the demo catalog."""
from __future__ import annotations

from dataclasses import replace

from engine.store.vectors import unit
from engine.types import Filters

N = 12  # the default list: 60 candidates, 24 of the leaf


def test_the_leaf_query_is_skipped_only_when_it_would_add_nothing(runtime):
    rec, store = runtime.recommender(), runtime.store
    skipped = asked = 0
    for pid in sorted(runtime.catalog.ids(active_only=True))[::5]:
        src = runtime.cards.get(pid)
        if src.category_id is None:
            continue
        vector = store.retrieve([pid], with_vectors=["combined"])[0].vectors["combined"]
        f = Filters(exclude_ids=[pid])
        hits = store.query(unit(vector), "combined", 5 * N, f, with_payload=False)
        candidates = rec._candidates(hits, "combined")
        leaf = store.query(unit(vector), "combined", 2 * N, replace(f, category_ids=[src.category_id]),
                           with_payload=False)
        seen = {h.id for h in hits}
        everything = hits + [h for h in leaf if h.id not in seen]  # what asking the leaf every time gives
        got, got_candidates = rec._with_leaf(vector, "combined", 2 * N, f, (), src, hits, candidates)
        assert [h.id for h in got] == [h.id for h in everything], src.sku
        assert [c.product.id for c in got_candidates] == [c.product.id for c in rec._candidates(everything, "combined")]
        if sum(c.product.category_id == src.category_id for c in candidates) >= 2 * N:
            skipped += 1
        else:
            asked += 1
    assert skipped and asked, (skipped, asked)  # both ways were taken on the demo catalog

