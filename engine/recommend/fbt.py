"""Frequently bought together: products that land in the same baskets as the source, from the event log.

A basket is a session with at least one cart add or purchase; what it holds is every product carted or
bought in that session. For a source A and another product B over N baskets:

    together(A, B) = baskets holding both          (the support, as a count: min_support)
    support        = together / N
    confidence     = together / baskets holding A   (how often A's baskets also hold B)
    lift           = confidence / (baskets holding B / N)   (> 1: more often than B's popularity explains)

A pair is kept when it meets all three thresholds; kept pairs rank by confidence, then lift. Counting by
baskets rather than events keeps one shopper adding the same pair ten times from looking like ten
shoppers. Where the log holds too few qualifying pairs, the list is topped up (or wholly served) by
complete the look, and the result says which source each part came from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.errors import ValidationError
from engine.catalog.events import EventRow
from engine.recommend.rerank import resolve_lang
from engine.recommend.rules import hider
from engine.types import Filters, Recommendation

BASKET_KINDS = ("cart_add", "purchase")
DEFAULT_MIN_SUPPORT = 2  # baskets holding both: one basket is an anecdote
DEFAULT_MIN_CONFIDENCE = 0.05
DEFAULT_MIN_LIFT = 1.0  # no better than chance is not "bought together"

SOURCE_CO_PURCHASE = "co-purchases"
SOURCE_MIXED = "co-purchases + complete the look"
SOURCE_LOOK = "complete the look (too little purchase data)"

_TOGETHER = {"en": "bought together in {n} baskets", "ru": "покупают вместе ({n} корзин)",
             "tr": "{n} sepette birlikte alındı"}


@dataclass(frozen=True)
class Pair:
    product_id: int
    together: int  # baskets holding the source and this product
    support: float
    confidence: float
    lift: float


@dataclass
class FBTResult:
    """`source` is "co-purchases", "co-purchases + complete the look" or
    "complete the look (too little purchase data)"; each item's `vector` is "fbt" or the look's vector."""

    items: list[Recommendation]
    source: str
    reason: str
    pairs: list[Pair]  # every qualifying pair, before catalog filtering
    baskets: int  # baskets holding the source product


def _threshold(value: Any, name: str, *, whole: bool = False, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{name} must be a finite number, got {value!r}")
    if whole and (not float(value).is_integer() or value < 1):
        raise ValidationError(f"{name} must be a whole number ≥ 1, got {value!r}")
    if value < 0 or (upper is not None and value > upper):
        bound = f"between 0 and {upper:g}" if upper is not None else "≥ 0"
        raise ValidationError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def co_purchases(db: Database, product_id: int, min_support: int = DEFAULT_MIN_SUPPORT,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_lift: float = DEFAULT_MIN_LIFT,
                 include_simulated: bool = True) -> tuple[list[Pair], int]:
    """Qualifying pairs of `product_id`, best first, and the number of baskets holding it.

    Three grouped queries, each served by an event index: the source's baskets, the products in them, and
    how many baskets hold each of those products at all."""
    min_support = int(_threshold(min_support, "min_support", whole=True))
    min_confidence = _threshold(min_confidence, "min_confidence", upper=1.0)
    min_lift = _threshold(min_lift, "min_lift")
    basket = [EventRow.kind.in_(BASKET_KINDS)] + ([] if include_simulated else [EventRow.simulated == 0])
    source_sessions = select(EventRow.session_id).where(EventRow.product_id == product_id, *basket).distinct()
    with db.engine.connect() as conn:
        n_source = int(conn.execute(select(func.count()).select_from(source_sessions.subquery())).scalar_one())
        if n_source < min_support:
            return [], n_source
        together = {int(p): int(c) for p, c in conn.execute(
            select(EventRow.product_id, func.count(func.distinct(EventRow.session_id)))
            .where(EventRow.session_id.in_(source_sessions), EventRow.product_id != product_id, *basket)
            .group_by(EventRow.product_id)) if c >= min_support}
        if not together:
            return [], n_source
        total = int(conn.execute(select(func.count(func.distinct(EventRow.session_id))).where(*basket)).scalar_one())
        held: dict[int, int] = {}
        ids = sorted(together)
        for i in range(0, len(ids), 500):
            held.update((int(p), int(c)) for p, c in conn.execute(
                select(EventRow.product_id, func.count(func.distinct(EventRow.session_id)))
                .where(EventRow.product_id.in_(ids[i:i + 500]), *basket).group_by(EventRow.product_id)))
    pairs = []
    for pid, both in together.items():
        confidence = both / n_source
        lift = confidence / (held[pid] / total)
        if confidence >= min_confidence and lift >= min_lift:
            pairs.append(Pair(pid, both, both / total, confidence, lift))
    pairs.sort(key=lambda p: (-p.confidence, -p.lift, -p.together, p.product_id))
    return pairs, n_source


def frequently_bought_together(recommender, product: int | str, n: int = 6,
                               min_support: int = DEFAULT_MIN_SUPPORT,
                               min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_lift: float = DEFAULT_MIN_LIFT,
                               filters: Filters | None = None) -> FBTResult:
    """Up to n products bought with `product` (active, within the filters, not its own variants, not
    hidden by a rule), topped up by complete the look when the log has too few."""
    n = recommender.check_n(n)
    filters = replace(filters or Filters()).validate()
    source = recommender.card(product)
    pairs, baskets = co_purchases(recommender.catalog.db, source.id, min_support, min_confidence, min_lift)
    cards = recommender.cards([p.product_id for p in pairs])
    hidden = hider(source, recommender.config.rules, styles=recommender.rule_styles())
    items: list[Recommendation] = []
    for p in pairs:
        card = cards.get(p.product_id)
        if card is None or hidden(card) or not filters.matches(card):
            continue
        if source.group_key and card.group_key == source.group_key:
            continue  # the same style in another size or colour is a variant, not a companion
        lang = resolve_lang(None, card, source)
        items.append(Recommendation(
            product=card, score=p.confidence, vector="fbt", rank=len(items) + 1,
            factors={"together": float(p.together), "support": p.support, "confidence": p.confidence,
                     "lift": p.lift},
            reasons=[_TOGETHER.get(lang, _TOGETHER["en"]).format(n=p.together)]))
        if len(items) == n:
            break
    from_log = len(items)
    if from_log < n:
        used = {r.product.id for r in items} | {source.id}
        look = recommender.complete_the_look(source.id, filters=filters)
        for rec in look:
            if rec.product.id in used or hidden(rec.product):
                continue
            used.add(rec.product.id)
            items.append(replace(rec, rank=len(items) + 1))
            if len(items) == n:
                break
    if from_log == 0:
        src = SOURCE_LOOK
        reason = (f"{source.sku} is in {baskets} basket{'s' if baskets != 1 else ''}: no product was carted or "
                  f"bought with it in at least {min_support} of them (confidence ≥ {min_confidence:g}, "
                  f"lift ≥ {min_lift:g}), so these complete its look instead")
    elif len(items) > from_log:
        src = SOURCE_MIXED
        reason = (f"{from_log} product{'s' if from_log != 1 else ''} bought together with {source.sku} "
                  f"(of {baskets} baskets), the rest complete its look")
    else:
        src = SOURCE_CO_PURCHASE
        reason = f"carted or bought together with {source.sku} across {baskets} baskets"
    return FBTResult(items, src, reason, pairs, baskets)


__all__ = ["Pair", "FBTResult", "co_purchases", "frequently_bought_together", "BASKET_KINDS",
           "SOURCE_CO_PURCHASE", "SOURCE_MIXED", "SOURCE_LOOK"]
