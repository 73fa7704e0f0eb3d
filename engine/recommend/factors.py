"""The factors of business reranking: each a number in [0, 1] computed from the source product (None for a
text or image query) and a candidate, shaped by `FactorParams` (part of the exported config). A strategy
(engine.recommend.rerank) weighs them; the reasons a shopper reads are derived from them there too."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Collection, Mapping, Sequence

from engine.types import ProductCard, Recommendation

FACTORS: tuple[str, ...] = ("similarity", "category", "price", "price_up", "stock", "freshness", "popularity",
                            "margin", "same_brand")
NEUTRAL = 0.5  # the value of a factor whose input is unknown: neither rewarded nor punished
_INF = math.inf


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
    """All factors of every candidate (a list, because popularity is relative to the list), one dict each."""
    cols = factor_columns(source, candidates, params, now)
    return [dict(zip(FACTORS, row)) for row in zip(*(cols[f] for f in FACTORS))]


def factor_columns(source: ProductCard | None, candidates: Sequence[Recommendation],
                   params: FactorParams = FactorParams(), now: datetime | None = None,
                   names: Collection[str] = FACTORS) -> dict[str, list[float]]:
    """The factors in `names` (default: all), each as one list over the candidates: the same values as the factor
    functions above, with what depends only on the source worked out once and one tight loop per factor. This
    runs for every candidate of every request; the reranker scores whole columns without a dict per candidate,
    and works out the factors its strategy does not weigh for the shown results only."""
    now = _naive_utc(now or datetime.now(timezone.utc))
    cards = [rec.product for rec in candidates]
    s_price = source.price if source is not None and _finite(source.price) and source.price > 0 else None
    s_chain = _chain(source) if source is not None else []
    s_brand = source.brand.strip().casefold() if source is not None and source.brand else None
    scale, band = params.price_scale, params.price_up_band
    saturation, half_life = params.stock_saturation, params.freshness_half_life_days
    out: dict[str, list[float]] = {}
    if "similarity" in names:  # clipped to [0, 1]; NaN and ±inf are 0 (every comparison with NaN is false)
        sims = out["similarity"] = []
        for rec in candidates:
            sim = float(rec.similarity if rec.similarity is not None else rec.score)
            sims.append(sim if 0.0 < sim < 1.0 else 1.0 if 1.0 <= sim < _INF else 0.0)
    if "category" in names:
        out["category"] = [0.0] * len(cards) if not s_chain else [_closeness(s_chain, _chain(c)) for c in cards]
    if "price" in names or "price_up" in names:
        price, price_up_ = [], []
        for c in cards:
            p = c.price
            # a float price skips _finite's type checks (cards read from the catalog always hold one)
            if s_price is None or not (0.0 < p < _INF if type(p) is float else _finite(p) and p > 0):
                price.append(NEUTRAL)
                price_up_.append(NEUTRAL)
                continue
            r = p / s_price
            near = math.exp(-abs(math.log(r)) / scale)
            price.append(near)
            price_up_.append((1.0 if r <= band else math.exp(-math.log(r / band) / scale)) if r > 1.0 else 0.5 * near)
        out["price"], out["price_up"] = price, price_up_
    if "stock" in names:
        out["stock"] = [0.0 if not c.in_stock else 0.5 + 0.5 * min(1.0, max(0, c.stock_qty or 0) / saturation)
                        for c in cards]
    if "freshness" in names:
        out["freshness"] = [
            NEUTRAL if c.created_at is None
            else 0.5 ** (max(0.0, (now - _naive_utc(c.created_at)).total_seconds() / 86400.0) / half_life)
            for c in cards]
    if "popularity" in names:
        out["popularity"] = popularity_scores(cards, params.popularity_sales_weight)
    if "margin" in names:
        out["margin"] = [margin(c) for c in cards]
    if "same_brand" in names:
        out["same_brand"] = [0.0] * len(cards) if not s_brand \
            else [1.0 if c.brand and c.brand.strip().casefold() == s_brand else 0.0 for c in cards]
    return {f: out[f] for f in FACTORS if f in out and f in names}


def _closeness(s: list[int], c: list[int]) -> float:
    """category_closeness on the two chains (the source's is non-empty)."""
    return (0.0 if not c else 1.0 if c[0] == s[0] else 0.5 if len(c) > 1 and len(s) > 1 and c[1] == s[1]
            else 0.25 if c[-1] == s[-1] else 0.0)


def weighted_score(factors: Mapping[str, float], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    return sum(w * factors[f] for f, w in weights.items()) / total
