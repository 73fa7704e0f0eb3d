"""Diversity for result lists: MMR re-ordering, collapsing variants of one style, and the list metrics the
what-if console reports (intra-list diversity, catalog coverage).

A "similar items" list full of one hoodie in five colours is relevant and useless; these helpers trade a
little relevance for variety, in a way the console can measure."""
from __future__ import annotations

import math
from typing import Callable, Hashable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from engine.errors import ValidationError
from engine.metrics import unit_or_none
from engine.types import ProductCard, Recommendation

GroupKey = Callable[[ProductCard], Hashable]


def mmr(candidates: Sequence[Recommendation], vectors: Mapping[int, np.ndarray], lambda_: float,
        n: int) -> list[Recommendation]:
    """Maximal Marginal Relevance: greedily pick argmax λ·score(i) − (1−λ)·max_{j picked} cos(v_i, v_j).

    λ = 1 is the relevance order itself, λ = 0 only spreads the list. Relevance is each candidate's `score`.
    A candidate without a (usable) vector counts as unrelated to every other one, so it is never punished
    for missing data. Ties keep the incoming order, which makes the result deterministic."""
    if lambda_ is None or not isinstance(lambda_, (int, float)) or math.isnan(lambda_) or not 0.0 <= lambda_ <= 1.0:
        raise ValidationError(f"MMR lambda must be in [0, 1], got {lambda_!r}")
    if n < 0:
        raise ValidationError(f"n must not be negative, got {n}")
    pool = list(candidates)
    k = min(n, len(pool))
    if k == 0:
        return []
    units = [unit_or_none(vectors.get(c.product.id)) for c in pool]
    dim = next((u.shape[0] for u in units if u is not None), 0)
    mat = np.zeros((len(pool), dim))
    has = np.zeros(len(pool), dtype=bool)
    for i, u in enumerate(units):
        if u is not None and u.shape[0] == dim:
            mat[i], has[i] = u, True
    rel = np.array([float(c.score) for c in pool])
    max_sim = np.full(len(pool), -np.inf)  # -inf until something is picked: the first pick is pure relevance
    taken = np.zeros(len(pool), dtype=bool)
    out: list[Recommendation] = []
    for _ in range(k):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lambda_ * rel - (1.0 - lambda_) * penalty
        value[taken] = -np.inf
        best = int(np.argmax(value))  # argmax returns the first maximum: incoming order breaks ties
        taken[best] = True
        out.append(pool[best])
        if has[best]:
            sims = mat @ mat[best]
            sims[~has] = 0.0
        else:
            sims = np.zeros(len(pool))
        max_sim = np.maximum(max_sim, sims)
    return out


def group_of(card: ProductCard) -> Hashable:
    """Variants of one style share a group_key; a product without one is its own group."""
    return card.group_key if card.group_key else ("id", card.id)


def group_colour_of(card: ProductCard) -> Hashable:
    """Style and colour: keeps one size per colour but lets other colours of the style through."""
    return (group_of(card), (card.colour or "").strip().lower())


_KEYS: dict[str, GroupKey] = {"group": group_of, "group+colour": group_colour_of}


def collapse(candidates: Sequence[Recommendation], k: int,
             key: str | GroupKey = "group") -> list[Recommendation]:
    """Keep at most k results per group, in the given order (the best-ranked variants survive).

    key: "group" (group_key), "group+colour", or any function of the product card."""
    return list(collapsed(candidates, k, key))


def collapsed(candidates: Iterable[Recommendation], k: int,
              key: str | GroupKey = "group") -> Iterator[Recommendation]:
    """collapse, read lazily: a caller that needs only the first few survivors stops there (the arguments are
    checked at the call, not at the first read)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"collapse k must be an integer ≥ 1, got {k!r}")
    if isinstance(key, str):
        if key not in _KEYS:
            raise ValidationError(f"unknown collapse key {key!r} (known: {', '.join(_KEYS)})")
        key_fn = _KEYS[key]
    else:
        key_fn = key
    return _kept(candidates, k, key_fn)


def _kept(candidates: Iterable[Recommendation], k: int, key_fn: GroupKey) -> Iterator[Recommendation]:
    seen: dict[Hashable, int] = {}
    for c in candidates:
        g = key_fn(c.product)
        count = seen.get(g, 0)
        if count < k:
            seen[g] = count + 1
            yield c
