"""Personalised lists: "recommended for you" from a shopper's profile (engine.recommend.profiles).

Recommendations for a profile are its nearest products (combined vectors) that the shopper has not bought
or already looked at, moved away from the products they said they do not like ("not like this", stored per
user or given per request: Qdrant recommend with positive and negative examples), then reranked by the
default strategy with no source product, and spread by MMR. Anonymous shoppers and shoppers without
history get what is trending, and the result says so.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Sequence

import numpy as np

from engine.errors import ValidationError
from engine.recommend.profiles import VECTOR, Profile, check_user
from engine.recommend.rerank import rerank, resolve_lang
from engine.store.vectors import unit
from engine.types import Filters, ProductCard, Recommendation, copied

OVERFETCH = 5  # candidates per result, so exclusions, collapse and MMR have room
PERSONAL_MMR_LAMBDA = 0.7  # a taste sits between several liked items: without MMR one of them floods the list
MAX_NOT_LIKE = 50  # products one request may name as "not like this"
MAX_NEGATIVES = 20  # most recent stored dislikes used as negative examples
# How far "not like this" pulls the ranking query away from the disliked products (Rocchio): the store's
# best-score recommend only drops products nearer a disliked one than the taste, this shifts the whole order.
NEGATIVE_WEIGHT = 0.5
SEEN_KINDS = ("click", "cart_add", "purchase")  # the shopper opened the product page: it has been seen
BOUGHT_KINDS = ("purchase",)
INTEREST_SHARE = 0.25  # a leaf category holding this share of the interest is "one of your categories"

SERVED_PERSONALISED = "personalised"
SERVED_COLD_START = "trending (cold start)"
SERVED_DISABLED = "trending (personalisation off)"

_REASONS: dict[str, dict[str, str]] = {
    "category": {"en": "one of your categories", "ru": "из ваших любимых категорий",
                 "tr": "sevdiğiniz kategoriden"},
    "price": {"en": "in your usual price range", "ru": "в привычном для вас ценовом диапазоне",
              "tr": "alışık olduğunuz fiyat aralığında"},
}



@dataclass
class PersonalisedResult:
    """What was served and why: `served` is "personalised", "trending (cold start)" or
    "trending (personalisation off)"; `reason` says it in a sentence."""

    items: list[Recommendation]
    served: str
    reason: str
    profile: Profile | None = None
    excluded: int = 0  # products left out as bought, seen or disliked
    negatives: int = 0  # "not like this" examples the query moved away from



# ---------------------------------------------------------------- serving

def _product_ids(recommender, products: Iterable[int | str], what: str) -> list[int]:
    items = list(products)
    if len(items) > MAX_NOT_LIKE:
        raise ValidationError(f"{what} names {len(items)} products; the limit is {MAX_NOT_LIKE}")
    out = []
    for p in items:
        out.append(recommender.catalog.get(p).id)  # NotFound names the unknown product
    return list(dict.fromkeys(out))


def personalised(recommender, user_id: str | None, n: int = 12, filters: Filters | None = None,
                 not_like: Sequence[int | str] = (), *, now: datetime | None = None) -> PersonalisedResult:
    """Products for this shopper: nearest to their taste, not bought or seen before, away from what they
    (now or earlier) said they do not like; trending when there is nothing to go on, saying so."""
    n = recommender.check_n(n)
    filters = replace(filters or Filters()).validate()
    if user_id is not None and not (isinstance(user_id, str) and user_id.strip() == ""):
        user_id = check_user(user_id)
    else:
        user_id = None
    if isinstance(not_like, (str, bytes)):
        not_like = [not_like]
    request_negatives = _product_ids(recommender, not_like, "not_like")
    config = recommender.config
    pcfg = config.personalisation

    if user_id is None:
        return _trending(recommender, n, filters, SERVED_COLD_START,
                         "anonymous visitor: showing what is popular now", request_negatives)
    ps = recommender.profiles
    bought = ps.interacted(user_id, BOUGHT_KINDS)
    stored_negatives = ps.dislikes(user_id)
    never = request_negatives + sorted(bought) + stored_negatives  # not offered again, whatever is served
    if not pcfg.enabled:
        return _trending(recommender, n, filters, SERVED_DISABLED,
                         "personalisation is switched off in the config (personalisation.enabled): "
                         "showing what is popular now", never)
    profile = ps.refresh(user_id, config, now=now)
    if profile.vector is None:
        why = (f"no interactions recorded for user {user_id} yet" if profile.events == 0 else
               f"none of the {profile.events} recent interactions of user {user_id} is with an indexed product")
        return _trending(recommender, n, filters, SERVED_COLD_START, why + ": showing what is popular now",
                         never, profile)

    excluded = set(never)
    if pcfg.exclude_seen:
        excluded |= ps.interacted(user_id, SEEN_KINDS)
    negative_ids = list(dict.fromkeys(request_negatives + stored_negatives[:MAX_NEGATIVES]))
    negatives = [h.vectors[VECTOR] for h in recommender.store.retrieve(negative_ids, with_vectors=[VECTOR])
                 if VECTOR in h.vectors]
    f = replace(filters, exclude_ids=sorted(set(filters.exclude_ids) | excluded))
    limit = n * OVERFETCH
    pref = unit(profile.vector)
    if negatives:
        hits = recommender.store.recommend([pref], negatives, using=VECTOR, limit=limit, filters=f)
        with_vec = {h.id: h.vectors[VECTOR] for h in
                    recommender.store.retrieve([h.id for h in hits], with_vectors=[VECTOR]) if VECTOR in h.vectors}
    else:
        hits = recommender.store.query(pref, using=VECTOR, limit=limit, filters=f, with_vectors=[VECTOR],
                                       with_payload=False)
        with_vec = {h.id: h.vectors[VECTOR] for h in hits if VECTOR in h.vectors}
    ranking = pref
    if negatives:
        away = pref - NEGATIVE_WEIGHT * unit(np.mean([unit(v) for v in negatives], axis=0))
        if np.linalg.norm(away) > 1e-6:
            ranking = unit(away)
    candidates = _candidates(recommender, [h.id for h in hits], ranking, with_vec)
    div = config.diversity
    items = rerank(None, candidates, config.strategy(None), n, vectors=with_vec,
                   mmr_lambda=div.mmr_lambda if div.mmr_lambda is not None else PERSONAL_MMR_LAMBDA,
                   collapse_k=div.collapse_k, rules=config.rules, params=config.factors,
                   fetch_product=recommender.pinned(f), boosts=config.boosts, styles=recommender.rule_styles())
    for rec in items:
        rec.vector = VECTOR
        rec.reasons = _personal_reasons(rec.product, profile) + list(rec.reasons)
    reason = _explain(profile, len(negatives))
    return PersonalisedResult(items, SERVED_PERSONALISED, reason, profile, len(excluded), len(negatives))


def _candidates(recommender, ids: Sequence[int], query: np.ndarray,
                vectors: dict[int, np.ndarray]) -> list[Recommendation]:
    """Cards with their cosine to the ranking query as the similarity (the store's recommend score is a
    transformed best-of-examples score, not a similarity the reranker can weigh)."""
    cards = recommender.cards(list(ids))
    pop = recommender.popularity()
    out = []
    for pid in ids:
        card, v = cards.get(pid), vectors.get(pid)
        if card is None or v is None:
            continue
        if pop:
            card = copied(card, popularity=pop.get(pid, 0.0))
        sim = float(np.dot(unit(v), query))
        out.append(Recommendation(product=card, score=sim, vector=VECTOR, similarity=sim))
    return out


def _personal_reasons(card: ProductCard, profile: Profile) -> list[str]:
    lang = resolve_lang(None, card)
    out = []
    if card.category_id is not None and profile.categories.get(card.category_id, 0.0) >= INTEREST_SHARE:
        out.append(_REASONS["category"].get(lang, _REASONS["category"]["en"]))
    if profile.price_band is not None and profile.price_band[0] <= card.price <= profile.price_band[1]:
        out.append(_REASONS["price"].get(lang, _REASONS["price"]["en"]))
    return out


def _explain(profile: Profile, negatives: int) -> str:
    parts = [f"taste of user {profile.user_id} from {profile.events} recent interactions"]
    names = [f"{profile.category_labels.get(cid, f'category {cid}')} {profile.categories[cid]:.0%}"
             for cid in profile.top_categories(2)]
    if names:
        parts.append("interests: " + ", ".join(names))
    if profile.price_band is not None:
        parts.append(f"usual price {profile.price_band[0]:g}–{profile.price_band[1]:g}")
    if negatives:
        parts.append(f"moved away from {negatives} product{'s' if negatives != 1 else ''} marked "
                     f"\"not like this\"")
    return "; ".join(parts)


def _trending(recommender, n: int, filters: Filters, served: str, reason: str, exclude: Sequence[int],
              profile: Profile | None = None) -> PersonalisedResult:
    f = replace(filters, exclude_ids=sorted(set(filters.exclude_ids) | set(exclude)))
    items = recommender.trending(n, filters=f)
    if not items:
        reason += " (no events logged yet, so nothing is trending)"
    return PersonalisedResult(items, served, reason, profile, len(set(exclude)), 0)


__all__ = ["Profile", "PersonalisedResult", "personalised",
           "SERVED_PERSONALISED", "SERVED_COLD_START", "SERVED_DISABLED"]
