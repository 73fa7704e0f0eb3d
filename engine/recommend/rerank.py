"""Business reranking: the vector store finds what looks alike; this decides what to show first.

Every factor is a number in [0, 1] computed from the source product (None for a text or image query) and
a candidate. A strategy weighs the factors; the final score is the weighted mean, so scores of different
strategies stay comparable. Each result carries its factors and the reasons a shopper can read.

Factors that need a source (category, price, price_up, same_brand) are the same constant for every
candidate of a query without one, so they cannot change its order."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Mapping, Sequence

import numpy as np

from engine.recommend.diversity import collapse, mmr
from engine.errors import ValidationError
from engine.recommend.boosts import Boost, apply_boosts
from engine.recommend.rules import FetchProduct, Rule, Styles, hider, merchandise, winning_pins
from engine.types import ProductCard, Recommendation

FACTORS: tuple[str, ...] = ("similarity", "category", "price", "price_up", "stock", "freshness", "popularity",
                            "margin", "same_brand")
NEUTRAL = 0.5  # the value of a factor whose input is unknown: neither rewarded nor punished


@dataclass(frozen=True)
class FactorParams:
    """The shape of the factor curves; part of the exported config so production scores the same way."""

    price_scale: float = 1.0  # price proximity exp(-|ln ratio|/scale): twice or half the price → 0.5
    # upsell: up to this ratio above the source price counts fully (Luma upsells are ×1.03–2.3 their source)
    price_up_band: float = 2.0
    stock_saturation: int = 20  # units in stock from which more stock no longer helps
    freshness_half_life_days: float = 30.0
    popularity_sales_weight: float = 5.0  # a sale counts as this many views

    def errors(self) -> list[str]:
        out = []
        for name in ("price_scale", "freshness_half_life_days"):
            v = getattr(self, name)
            if not _finite(v) or v <= 0:
                out.append(f"{name} must be a positive number, got {v!r}")
        if not _finite(self.price_up_band) or self.price_up_band <= 1:
            out.append(f"price_up_band must be a number > 1, got {self.price_up_band!r}")
        if isinstance(self.stock_saturation, bool) or not isinstance(self.stock_saturation, int) \
                or self.stock_saturation < 1:
            out.append(f"stock_saturation must be an integer ≥ 1, got {self.stock_saturation!r}")
        if not _finite(self.popularity_sales_weight) or self.popularity_sales_weight < 0:
            out.append(f"popularity_sales_weight must be a number ≥ 0, got {self.popularity_sales_weight!r}")
        return out


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Strategy:
    """A named weighting of the factors. Weights need not sum to 1: the score divides by their sum."""

    name: str
    weights: dict[str, float]
    description: str = ""

    def errors(self) -> list[str]:
        out = []
        if not isinstance(self.name, str) or not self.name.strip():
            out.append("strategy name must be a non-empty string")
        if not isinstance(self.weights, Mapping) or not self.weights:
            return out + ["weights must name at least one factor"]
        total = 0.0
        for f, w in self.weights.items():
            if f not in FACTORS:
                out.append(f"unknown factor {f!r} (known: {', '.join(FACTORS)})")
            elif not _finite(w):
                out.append(f"weight of {f} must be a finite number, got {w!r}")
            elif w < 0:
                out.append(f"weight of {f} must not be negative, got {w}")
            else:
                total += float(w)
        if not out and total <= 0:
            out.append("at least one weight must be positive")
        return out

    def validate(self) -> "Strategy":
        errs = self.errors()
        if errs:
            raise ValidationError(f"strategy {self.name!r}: " + "; ".join(errs))
        return self


BUILTIN_STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("relevance", {"similarity": 1.0}, "Pure vector similarity: the order of the vector store."),
    Strategy("balanced", {"similarity": 0.45, "category": 0.3, "price_up": 0.15, "stock": 0.05,
                          "popularity": 0.05},
             "Similar items: same-leaf alternatives first (where upsells live), at or a little above the "
             "source's price, available, a little popularity. Tuned on the Luma upsell links (evaluate)."),
    Strategy("trending", {"popularity": 0.6, "similarity": 0.25, "freshness": 0.15},
             "What sells now, still related to the source."),
    Strategy("upsell", {"similarity": 0.4, "category": 0.3, "price_up": 0.3},
             "Pricier alternatives of the same kind."),
)}


# ---------------------------------------------------------------- factors

def category_closeness(source: ProductCard | None, cand: ProductCard) -> float:
    """1 same leaf, 0.5 same parent, 0.25 same top-level category, else 0 (category_ids: leaf first)."""
    if source is None:
        return 0.0
    s, c = _chain(source), _chain(cand)
    if not s or not c:
        return 0.0
    if s[0] == c[0]:
        return 1.0
    if len(s) > 1 and len(c) > 1 and s[1] == c[1]:
        return 0.5
    if s[-1] == c[-1]:
        return 0.25
    return 0.0


def _chain(card: ProductCard) -> list[int]:
    if card.category_ids:
        return list(card.category_ids)
    return [card.category_id] if card.category_id is not None else []


def _ratio(source: ProductCard | None, cand: ProductCard) -> float | None:
    if source is None or not _finite(source.price) or not _finite(cand.price):
        return None
    if source.price <= 0 or cand.price <= 0:
        return None
    return cand.price / source.price


def price_proximity(source: ProductCard | None, cand: ProductCard, scale: float = 1.0) -> float:
    """exp(-|ln(p_c/p_s)|/scale): symmetric in ratio, so 2× and ½× the price score alike."""
    r = _ratio(source, cand)
    return NEUTRAL if r is None else math.exp(-abs(math.log(r)) / scale)


def price_up(source: ProductCard | None, cand: ProductCard, band: float = 2.0, scale: float = 1.0) -> float:
    """Upsell direction: 1 when pricier up to `band` times the source price, decaying beyond the band;
    0.5 at the same price, falling further the cheaper the candidate is."""
    r = _ratio(source, cand)
    if r is None:
        return NEUTRAL
    if r > 1.0:
        return 1.0 if r <= band else math.exp(-math.log(r / band) / scale)
    return 0.5 * math.exp(-abs(math.log(r)) / scale)


def stock_level(cand: ProductCard, saturation: int = 20) -> float:
    """0 out of stock; 0.5 in stock (quantity unknown or nil) rising linearly to 1 at `saturation` units."""
    if not cand.in_stock:
        return 0.0
    qty = max(0, cand.stock_qty or 0)
    return 0.5 + 0.5 * min(1.0, qty / saturation)


def _naive_utc(d: datetime) -> datetime:
    return d.astimezone(timezone.utc).replace(tzinfo=None) if d.tzinfo is not None else d


def age_days(cand: ProductCard, now: datetime) -> float | None:
    if cand.created_at is None:
        return None
    return max(0.0, (_naive_utc(now) - _naive_utc(cand.created_at)).total_seconds() / 86400.0)


def freshness(cand: ProductCard, now: datetime, half_life_days: float = 30.0) -> float:
    """0.5 ** (age / half-life): 1 for a new product, halving every half-life; neutral when undated."""
    age = age_days(cand, now)
    return NEUTRAL if age is None else 0.5 ** (age / half_life_days)


def popularity_scores(cands: Sequence[ProductCard], sales_weight: float = 5.0) -> list[float]:
    """Popularity relative to the candidate list, in [0, 1] (the most popular candidate gets 1).

    When analytics has given any candidate an event popularity, that is used for all of them (a candidate
    without one had no events: 0); otherwise log(1 + views + w·sales) from the catalog counters."""
    if any(c.popularity is not None for c in cands):
        raw = [max(0.0, float(c.popularity)) if c.popularity is not None else 0.0 for c in cands]
    else:
        raw = [math.log1p(max(0, c.views or 0) + sales_weight * max(0, c.sales or 0)) for c in cands]
    top = max(raw, default=0.0)
    return [r / top if top > 0 else 0.0 for r in raw]


def margin(cand: ProductCard) -> float:
    """(price − cost)/price, clamped to [0, 1]; neutral when the cost or the price is unknown."""
    if cand.cost is None or not _finite(cand.cost) or not _finite(cand.price) or cand.price <= 0:
        return NEUTRAL
    return min(1.0, max(0.0, (cand.price - cand.cost) / cand.price))


def same_brand(source: ProductCard | None, cand: ProductCard) -> float:
    if source is None or not source.brand or not cand.brand:
        return 0.0
    return 1.0 if source.brand.strip().casefold() == cand.brand.strip().casefold() else 0.0


def similarity_value(rec: Recommendation) -> float:
    """The vector cosine clipped to [0, 1] (an opposite direction is simply unrelated)."""
    s = rec.similarity if rec.similarity is not None else rec.score
    return min(1.0, max(0.0, float(s))) if _finite(float(s)) else 0.0


def compute_factors(source: ProductCard | None, candidates: Sequence[Recommendation],
                    params: FactorParams = FactorParams(), now: datetime | None = None) -> list[dict[str, float]]:
    """All factors of every candidate (a list, because popularity is relative to the list). The same values as
    the factor functions above, with what depends only on the source worked out once: this loop runs for every
    candidate of every request."""
    now = _naive_utc(now or datetime.now(timezone.utc))
    pops = popularity_scores([c.product for c in candidates], params.popularity_sales_weight)
    s_price = source.price if source is not None and _finite(source.price) and source.price > 0 else None
    s_chain = _chain(source) if source is not None else []
    s_brand = source.brand.strip().casefold() if source is not None and source.brand else None
    scale, band = params.price_scale, params.price_up_band
    saturation, half_life = params.stock_saturation, params.freshness_half_life_days
    out = []
    for rec, pop in zip(candidates, pops):
        c = rec.product
        sim = rec.similarity if rec.similarity is not None else rec.score
        sim = min(1.0, max(0.0, float(sim))) if math.isfinite(sim) else 0.0
        if not s_chain:
            category = 0.0
        else:
            chain = _chain(c)
            category = (0.0 if not chain else 1.0 if chain[0] == s_chain[0]
                        else 0.5 if len(chain) > 1 and len(s_chain) > 1 and chain[1] == s_chain[1]
                        else 0.25 if chain[-1] == s_chain[-1] else 0.0)
        p = c.price
        if s_price is None or not _finite(p) or p <= 0:
            price = price_up_ = NEUTRAL
        else:
            r = p / s_price
            log_r = abs(math.log(r))
            price = math.exp(-log_r / scale)
            if r > 1.0:
                price_up_ = 1.0 if r <= band else math.exp(-math.log(r / band) / scale)
            else:
                price_up_ = 0.5 * price
        if c.created_at is None:
            fresh = NEUTRAL
        else:
            age = max(0.0, (now - _naive_utc(c.created_at)).total_seconds() / 86400.0)
            fresh = 0.5 ** (age / half_life)
        out.append({
            "similarity": sim,
            "category": category,
            "price": price,
            "price_up": price_up_,
            "stock": stock_level(c, saturation),
            "freshness": fresh,
            "popularity": pop,
            "margin": margin(c),
            "same_brand": 1.0 if s_brand and c.brand and c.brand.strip().casefold() == s_brand else 0.0,
        })
    return out


def weighted_score(factors: Mapping[str, float], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    return sum(w * factors[f] for f, w in weights.items()) / total


# ---------------------------------------------------------------- reasons

REASON_TEXT: dict[str, dict[str, str]] = {
    "similar": {"en": "very similar style", "ru": "очень похожий стиль", "tr": "çok benzer stil"},
    "category": {"en": "same category", "ru": "та же категория", "tr": "aynı kategori"},
    "brand": {"en": "same brand", "ru": "тот же бренд", "tr": "aynı marka"},
    "new": {"en": "new", "ru": "новинка", "tr": "yeni"},
    "stock": {"en": "in stock", "ru": "в наличии", "tr": "stokta"},
    "price": {"en": "close in price", "ru": "близкая цена", "tr": "yakın fiyat"},
    "price_up": {"en": "pricier alternative", "ru": "более дорогая альтернатива",
                 "tr": "daha pahalı alternatif"},
    "popular": {"en": "popular now", "ru": "популярно сейчас", "tr": "şu an popüler"},
    "featured": {"en": "featured", "ru": "рекомендуем", "tr": "öne çıkan"},
}
LANGUAGES = ("en", "ru", "tr")
SIMILAR_AT = 0.8  # cosine from which two items read as "very similar"
CLOSE_PRICE_AT = 0.8  # price proximity 0.8 ≈ within 25 % at scale 1
NEW_AT = 0.75  # freshness 0.75 ≈ younger than 12 days at a 30-day half-life
POPULAR_AT = 0.7

# factor → reason key; margin has none on purpose: it is the shop's business, not the shopper's.
_FACTOR_REASON = {"similarity": "similar", "category": "category", "same_brand": "brand", "freshness": "new",
                  "stock": "stock", "price": "price", "price_up": "price_up", "popularity": "popular"}


def normalise_lang(lang: str | None) -> str | None:
    if not lang:
        return None
    code = lang.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else "en"


def resolve_lang(lang: str | None, cand: ProductCard, source: ProductCard | None = None) -> str:
    """An explicit `lang` wins; else the catalog's language as the product (or the source) records it."""
    return (normalise_lang(lang) or normalise_lang(cand.language)
            or normalise_lang(source.language if source else None) or "en")


def reason_text(key: str, lang: str) -> str:
    return REASON_TEXT[key].get(normalise_lang(lang) or "en", REASON_TEXT[key]["en"])


def _holds(factor: str, value: float, source: ProductCard | None, cand: ProductCard) -> bool:
    if factor == "similarity":
        return value >= SIMILAR_AT
    if factor == "category":
        return source is not None and value >= 1.0
    if factor == "same_brand":
        return value >= 1.0
    if factor == "freshness":
        return cand.created_at is not None and value >= NEW_AT
    if factor == "stock":
        return cand.in_stock and value > 0
    if factor == "price":
        return source is not None and value >= CLOSE_PRICE_AT and _ratio(source, cand) is not None
    if factor == "price_up":
        r = _ratio(source, cand)
        return r is not None and r > 1.0 and value >= 1.0
    if factor == "popularity":
        return value >= POPULAR_AT
    return False


def reasons_for(factors: Mapping[str, float], weights: Mapping[str, float], source: ProductCard | None,
                cand: ProductCard, lang: str) -> list[str]:
    """Reasons for the factors the strategy weighs, strongest contribution first: a reason explains the
    rank, so a factor the strategy ignores is not claimed."""
    keyed = [(-(w * factors[f]), FACTORS.index(f), f) for f, w in weights.items()
             if w > 0 and f in _FACTOR_REASON and _holds(f, factors[f], source, cand)]
    return [reason_text(_FACTOR_REASON[f], lang) for _, _, f in sorted(keyed)]


# ---------------------------------------------------------------- the reranker

def rerank(source: ProductCard | None, candidates: Sequence[Recommendation], strategy: Strategy, n: int, *,
           vectors: Mapping[int, np.ndarray] | None = None, mmr_lambda: float | None = None,
           collapse_k: int | None = None, rules: Sequence[Rule] | None = None, lang: str | None = None,
           params: FactorParams | None = None, now: datetime | None = None,
           fetch_product: FetchProduct | None = None, boosts: Sequence[Boost] | None = None,
           styles: Styles | None = None) -> list[Recommendation]:
    """The top n of the candidates, rescored by the strategy, then boosted, diversified and merchandised.

    Order of work: score every candidate → drop the source and duplicates → boosts (re-sorted stably) →
    drop hidden products → collapse variants (collapse_k per group) → MMR (mmr_lambda, on `vectors`) → pins
    → the first n, ranked from 1. `now` (default: the current UTC time) dates freshness and the rules' and
    boosts' windows; `styles` gives the group_key of rules' products (engine/recommend/rules.py).
    Results are new objects (the inputs may be cached); they never leave the candidate list unless
    fetch_product is given for pinned products outside it. A pinned candidate removed by collapse or MMR
    is still pinned: the merchant asked for it."""
    strategy.validate()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError(f"n must be a positive integer, got {n!r}")
    params = params or FactorParams()
    perrs = params.errors()
    if perrs:
        raise ValidationError("factor parameters: " + "; ".join(perrs))
    if mmr_lambda is not None and vectors is None:
        raise ValidationError("MMR needs the candidates' vectors")
    rules = list(rules or [])
    for r in rules:
        r.validate()
    now = now or datetime.now(timezone.utc)
    src_id = source.id if source is not None else None
    pool: list[Recommendation] = []
    seen: set[int] = set()
    for c in candidates:
        if c.product.id == src_id or c.product.id in seen:
            continue
        seen.add(c.product.id)
        pool.append(c)

    scored = []
    for rec, f in zip(pool, compute_factors(source, pool, params, now)):
        scored.append(replace(rec, score=weighted_score(f, strategy.weights), factors=f, reasons=[], rank=0))
    scored.sort(key=lambda r: (-r.score, -similarity_value(r), r.product.id))
    scored = apply_boosts(source, scored, boosts or (), now)
    by_id = {r.product.id: r for r in scored}

    known = {r.product.id: r.product.group_key for r in scored} | dict(styles or {})
    pins = winning_pins(source, rules, now=now, styles=known)
    hidden = hider(source, rules, now=now, styles=known)
    ordered = [r for r in scored if not hidden(r.product)]
    if collapse_k is not None:
        ordered = collapse(ordered, collapse_k)
    if mmr_lambda is not None:
        head = mmr(ordered, vectors or {}, mmr_lambda, min(len(ordered), n + len(pins)))
        head_ids = {r.product.id for r in head}
        ordered = head + [r for r in ordered if r.product.id not in head_ids]

    def fetch(pid: int) -> ProductCard | Recommendation | None:
        if pid in by_id:
            return by_id[pid]
        return fetch_product(pid) if fetch_product is not None else None

    out, pinned_ids = merchandise(source, ordered, rules, n, fetch, now=now, styles=known)
    for rec in out:  # reasons only for what is shown: most of the pool never is
        rec_lang = resolve_lang(lang, rec.product, source)
        if rec.product.id in by_id:
            rec.reasons = reasons_for(rec.factors, strategy.weights, source, rec.product, rec_lang)
        if rec.product.id in pinned_ids:
            rec.reasons = [reason_text("featured", rec_lang)] + list(rec.reasons)
    return out
