"""Business reranking: the vector store finds what looks alike; this decides what to show first.

Every factor (engine.recommend.factors, whose names are also importable from here) is a number in [0, 1]
computed from the source product (None for a text or image query) and a candidate. A strategy weighs them; the final score is the weighted mean, so scores of different
strategies stay comparable. Each result carries its factors and the reasons a shopper can read.

Factors that need a source (category, price, price_up, same_brand) are the same constant for every
candidate of a query without one, so they cannot change its order."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

import numpy as np

from engine.recommend.diversity import collapse, collapsed, mmr
from engine.errors import ValidationError
from engine.recommend.boosts import Boost, apply_boosts
from engine.recommend.rules import FetchProduct, Rule, Styles, hider, merchandise, winning_pins
from engine.recommend.factors import (  # noqa: F401 (the factor functions are imported from here too)
    FACTORS, NEUTRAL, FactorParams, _finite, _naive_utc, _ratio, age_days, category_closeness, compute_factors,
    factor_columns, freshness, margin, popularity_scores, price_proximity, price_up, same_brand, similarity_value,
    stock_level, weighted_score)
from engine.types import ProductCard, Recommendation, copied


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


@lru_cache(maxsize=256)
def normalise_lang(lang: str | None) -> str | None:
    """A language tag as one of LANGUAGES ('ru-RU' → 'ru'; another → 'en'), None for none (a few distinct tags
    per catalog: remembered, it is asked several times for every shown result)."""
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

def _rescored(rec: Recommendation, score: float, factors: dict[str, float]) -> Recommendation:
    """A new record with the strategy's score and the factors (engine.types.copied: this runs for every
    candidate of every request; the inputs may be cached)."""
    return copied(rec, score=score, factors=factors, reasons=[], rank=0)


def _scores(cols: Mapping[str, list[float]], weights: Sequence[tuple[str, float]], total: float) -> list[float]:
    """The strategy's weighted mean of every candidate, a column at a time: the same sums in the same order as
    weighted_score, without a dict per candidate."""
    acc: list[float] | None = None
    for f, w in weights:
        col = cols[f]
        acc = [w * v for v in col] if acc is None else [a + w * v for a, v in zip(acc, col)]
    return [a / total for a in acc or ()]


def _row(cols: Mapping[str, list[float]], i: int) -> dict[str, float]:
    return {f: cols[f][i] for f in FACTORS}


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

    weights = [(f, float(w)) for f, w in strategy.weights.items()]
    # The factors the strategy weighs (and the tie-break's similarity) over the whole pool; popularity too, as it
    # is relative to the pool. The rest only for the shown results, unless a boost in force may need them all.
    eager = any(b.validate().in_force(source, now) for b in boosts or ())
    cols = factor_columns(source, pool, params, now,
                          FACTORS if eager else {f for f, _ in weights} | {"similarity", "popularity"})
    scores = _scores(cols, weights, sum(w for _, w in weights))
    sims = cols["similarity"]  # the tie-break: the candidate's own similarity (similarity_value)
    order = sorted(range(len(pool)), key=lambda i: (-scores[i], -sims[i], pool[i].product.id))
    known = {c.product.id: c.product.group_key for c in pool} | dict(styles or {})
    pins = winning_pins(source, rules, now=now, styles=known)
    hidden = hider(source, rules, now=now, styles=known)
    if eager or pins or mmr_lambda is not None:
        scored = [_rescored(pool[i], scores[i], _row(cols, i) if eager else {}) for i in order]
        out, pinned_ids, by_id = _merchandised(source, scored, n, rules, boosts, now, known, hidden, collapse_k,
                                               mmr_lambda, vectors, len(pins), fetch_product)
    else:
        # Nothing is boosted, pinned or spread by MMR: the list is the first n survivors of the hides and the
        # collapse (what merchandise would take of the whole ordered pool), so only they become records.
        ranked = (r for r in (_rescored(pool[i], scores[i], {}) for i in order) if not hidden(r.product))
        out = list(islice(ranked if collapse_k is None else collapsed(ranked, collapse_k), n))
        for i, rec in enumerate(out):
            rec.rank = i + 1
        pinned_ids, by_id = set(), {rec.product.id: rec for rec in out}
    if not eager:  # factors and reasons only for what is shown: most of the pool never is
        at = {rec.product.id: i for i, rec in enumerate(pool)}
        shown = [at[rec.product.id] for rec in out if rec.product.id in by_id]
        rest = factor_columns(source, [pool[i] for i in shown], params, now, [f for f in FACTORS if f not in cols])
        for j, rec in enumerate(r for r in out if r.product.id in by_id):
            i = shown[j]
            rec.factors = {f: cols[f][i] if f in cols else rest[f][j] for f in FACTORS}
    for rec in out:
        rec_lang = resolve_lang(lang, rec.product, source)
        if rec.product.id in by_id:
            rec.reasons = reasons_for(rec.factors, strategy.weights, source, rec.product, rec_lang)
        if rec.product.id in pinned_ids:
            rec.reasons = [reason_text("featured", rec_lang)] + list(rec.reasons)
    return out


def _merchandised(source: ProductCard | None, scored: list[Recommendation], n: int, rules: list[Rule],
                  boosts: Sequence[Boost] | None, now: datetime, known: Styles,
                  hidden: Callable[[ProductCard], bool], collapse_k: int | None,
                  mmr_lambda: float | None, vectors: Mapping[int, np.ndarray] | None, n_pins: int,
                  fetch_product: FetchProduct | None) -> tuple[list[Recommendation], set[int], dict]:
    """rerank's steps after scoring, over the whole pool: boosts, hides, collapse, MMR and pins. Returns the
    shown list, the ids a pin placed, and the pool's records by id."""
    scored = apply_boosts(source, scored, boosts or (), now)
    by_id = {r.product.id: r for r in scored}
    ordered = [r for r in scored if not hidden(r.product)]
    if collapse_k is not None:
        ordered = collapse(ordered, collapse_k)
    if mmr_lambda is not None:
        head = mmr(ordered, vectors or {}, mmr_lambda, min(len(ordered), n + n_pins))
        head_ids = {r.product.id for r in head}
        ordered = head + [r for r in ordered if r.product.id not in head_ids]

    def fetch(pid: int) -> ProductCard | Recommendation | None:
        if pid in by_id:
            return by_id[pid]
        return fetch_product(pid) if fetch_product is not None else None

    out, pinned_ids = merchandise(source, ordered, rules, n, fetch, now=now, styles=known)
    return out, pinned_ids, by_id
