"""Ranking and list metrics: recall, hit rate, precision, NDCG, coverage, intra-list diversity.

A leaf: it imports nothing of the engine but its errors, so evaluation, the merchandising what-if figures
and the benchmarks all score lists with the same definitions."""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from engine.errors import ValidationError


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    if not relevant:
        raise ValidationError("recall needs at least one relevant item")
    return len(set(ranked[:k]) & relevant) / len(relevant)


def hit_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    return 1.0 if set(ranked[:k]) & relevant else 0.0


def precision_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    return len([r for r in ranked[:k] if r in relevant]) / k


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def coverage(lists: Iterable[Sequence[int]], catalog_size: int) -> float:
    seen = set()
    for lst in lists:
        seen.update(lst)
    return len(seen) / catalog_size if catalog_size else 0.0


def unit_or_none(v: np.ndarray | None) -> np.ndarray | None:
    """`v` scaled to length 1, or None for a missing, zero or non-finite vector."""
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(a))
    if norm == 0.0 or not math.isfinite(norm):
        return None
    return a / norm


def intra_list_diversity(vectors: Sequence[np.ndarray]) -> float:
    """Mean pairwise cosine distance (1 − cos) of a result list; 0 for fewer than two items.
    Zero vectors are left out: they carry no direction to compare."""
    units = [u for u in (unit_or_none(v) for v in vectors) if u is not None]
    m = len(units)
    if m < 2:
        return 0.0
    mat = np.vstack(units)
    sims = mat @ mat.T
    iu = np.triu_indices(m, k=1)
    return float(np.mean(1.0 - sims[iu]))


def catalog_coverage(lists: Iterable[Iterable[Any]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one of the lists (ids or recommendations)."""
    if isinstance(catalog_size, bool) or not isinstance(catalog_size, int) or catalog_size < 1:
        raise ValidationError(f"catalog size must be a positive integer, got {catalog_size!r}")
    seen: set[int] = set()
    for items in lists:
        for it in items:
            product = getattr(it, "product", None)  # a Recommendation, or an id
            seen.add(product.id if product is not None else int(it))
    return min(1.0, len(seen) / catalog_size)
