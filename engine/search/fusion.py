"""Merging the dense and the lexical result lists into one relevance in [0, 1].

Done here rather than by the store's own fusion (Qdrant's prefetch + Fusion.Rrf), for three reasons: both
backends then fuse identically; the raw cosine and BM25 scores stay available to the confidence of
engine.search.confidence; and the relevance is normalised so the reranker's similarity factor reads it like a
cosine (1 = the best a query can get).

- RRF: Σ wᵢ / (k + rankᵢ) over the lists an item is in, divided by Σ wᵢ / (k + 1), the score of an item
  first in every list.
- DBSF (distribution-based score fusion, as Qdrant does it): each list's scores mapped to [0, 1] between its
  mean − 3σ and mean + 3σ (clipped), then the weighted mean over all lists (an item absent from a list gets 0
  there)."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

Ranked = Sequence[tuple[int, float]]  # (id, raw score), best first


def rrf(lists: Sequence[Ranked], weights: Sequence[float], k: int) -> dict[int, float]:
    total = sum(w / (k + 1) for w, ranked in zip(weights, lists) if ranked and w > 0)
    out: dict[int, float] = {}
    if total <= 0:
        return out
    for w, ranked in zip(weights, lists):
        if w <= 0:
            continue
        for rank, (i, _) in enumerate(ranked, start=1):
            out[i] = out.get(i, 0.0) + w / (k + rank)
    return {i: s / total for i, s in out.items()}


def _normalised(ranked: Ranked) -> dict[int, float]:
    scores = [s for _, s in ranked]
    mean = sum(scores) / len(scores)
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if sd == 0:
        return {i: 1.0 for i, _ in ranked}  # one item, or all equal: each as good as the list's best
    lo, hi = mean - 3 * sd, mean + 3 * sd
    return {i: min(1.0, max(0.0, (s - lo) / (hi - lo))) for i, s in ranked}


def dbsf(lists: Sequence[Ranked], weights: Sequence[float]) -> dict[int, float]:
    used = [(w, _normalised(r)) for w, r in zip(weights, lists) if r and w > 0]
    total = sum(w for w, _ in used)
    out: dict[int, float] = {}
    if total <= 0:
        return out
    for w, norm in used:
        for i, s in norm.items():
            out[i] = out.get(i, 0.0) + w * s
    return {i: s / total for i, s in out.items()}


def fuse(method: str, lists: Sequence[Ranked], weights: Sequence[float], k: int = 60) -> dict[int, float]:
    """Relevance per id, in [0, 1]; `method` is rrf or dbsf (SearchConfig.fusion)."""
    if method == "rrf":
        return rrf(lists, weights, k)
    if method == "dbsf":
        return dbsf(lists, weights)
    raise ValueError(f"unknown fusion {method!r}")


def ordered(scores: Mapping[int, float], tie: Mapping[int, float] | None = None) -> list[tuple[int, float]]:
    """Best first; ties broken by `tie` (e.g. the dense cosine), then by id for a stable order."""
    tie = tie or {}
    return sorted(scores.items(), key=lambda kv: (-kv[1], -tie.get(kv[0], 0.0), kv[0]))
