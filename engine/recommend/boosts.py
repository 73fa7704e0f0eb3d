"""Boost and bury by condition: merchandisers lift (or sink) every candidate that meets one condition —
low stock to clear, a high margin, new arrivals, a brand or a colour — without naming products.

A boost adds its strength (in [-1, 1], never 0; negative buries) to the score of each matching candidate
after the strategy has scored the pool and before the rules pin and hide: the strategy's score is a weighted
mean in [0, 1], so a strength of 1 beats any difference the factors make, and a small one only breaks near
ties. Several matching boosts add up. The pool is then re-sorted stably, so candidates that gain the same
keep their order. A boost acted on a result when its factors hold "boost" (the sum) and "boost:<id>" (each).

Scope (global, brand:<name>, category:<id>, product:<id>) and the time window (starts included, ends
excluded) mean what they mean for rules: engine/recommend/rules.py."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Sequence

from engine.catalog.colours import normalise_colour
from engine.errors import ValidationError
from engine.recommend.rules import parse_scope, parse_time, scope_matches, utc_now, window_errors, window_status
from engine.types import ProductCard, Recommendation

CONDITIONS = ("stock_below", "margin_above", "new_within_days", "brand_in", "colour_in")
CONDITION_HELP = {  # for the console's condition picker
    "stock_below": "stock below N units",
    "margin_above": "margin (price − cost) / price above X, where the cost is known",
    "new_within_days": "added to the catalog within the last N days",
    "brand_in": "brand in the list",
    "colour_in": "colour in the list (names as the catalog normalises them: grey = gray, navy = blue)",
}
FACTOR = "boost"  # the factor key that carries the sum of the boosts that acted on a result


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _names(v: Any) -> set[str]:
    return {str(x).strip().casefold() for x in v}


def _colours(v: Any) -> set[str]:
    """Colour names as the catalog stores them ('Grey' → 'gray', 'Navy' → 'blue': the importers
    normalise), so a merchandiser's word matches the products the catalog filters show for it."""
    return {normalise_colour(str(x)) or str(x).strip().casefold() for x in v}


def condition_errors(condition: str, value: Any) -> list[str]:
    """What is wrong with one condition's value, in the words of the document's own checks."""
    if condition not in CONDITIONS:
        return [f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})"]
    if condition in ("stock_below", "new_within_days"):
        return [] if _whole(value) and value >= 1 else [f"{condition} must be a whole number ≥ 1, got {value!r}"]
    if condition == "margin_above":
        return [] if _number(value) and 0 <= value <= 1 else [f"margin_above must be a number in [0, 1], got {value!r}"]
    if not isinstance(value, list) or not value or not all(isinstance(x, str) and x.strip() for x in value):
        return [f"{condition} must be a non-empty list of names, got {value!r}"]
    return []


def condition_holds(condition: str, value: Any, card: ProductCard, now: datetime) -> bool:
    """Whether a candidate meets the condition (a card without the data, e.g. no cost, never does)."""
    if condition == "stock_below":
        return (card.stock_qty or 0) < value
    if condition == "margin_above":
        if card.cost is None or not _number(card.cost) or not _number(card.price) or card.price <= 0:
            return False
        return (card.price - card.cost) / card.price > value
    if condition == "new_within_days":
        if card.created_at is None:
            return False
        return (parse_time(now) - parse_time(card.created_at)).total_seconds() <= value * 86400.0
    if condition == "brand_in":
        return bool(card.brand) and card.brand.strip().casefold() in _names(value)
    if condition == "colour_in":
        return bool(card.colour) and card.colour.strip().casefold() in _colours(value)
    return False


@dataclass
class Boost:
    """One boost (strength > 0) or bury (strength < 0); `when` holds exactly one condition, as the document
    writes it: {"stock_below": 5}, {"brand_in": ["Luma"]}..."""

    id: str
    when: dict[str, Any]
    strength: float
    scope: str = "global"
    starts: str | None = None
    ends: str | None = None
    note: str = ""

    @property
    def condition(self) -> tuple[str, Any]:
        """(name, value) of the one condition (ValidationError when `when` does not hold exactly one)."""
        if not isinstance(self.when, dict) or len(self.when) != 1:
            raise ValidationError(f"boost {self.id!r}: `when` needs exactly one condition of "
                                  f"{', '.join(CONDITIONS)}, got {self.when!r}")
        return next(iter(self.when.items()))

    def errors(self) -> list[str]:
        out = []
        if not isinstance(self.id, str) or not self.id.strip():
            out.append("boost id must be a non-empty string")
        try:
            out += condition_errors(*self.condition)
        except ValidationError as e:
            out.append(str(e))
        if not _number(self.strength) or not -1 <= self.strength <= 1 or self.strength == 0:
            out.append(f"strength must be a non-zero number in [-1, 1], got {self.strength!r}")
        try:
            parse_scope(self.scope)
        except ValidationError as e:
            out.append(str(e))
        return out + window_errors(self.starts, self.ends)

    def validate(self) -> "Boost":
        errs = self.errors()
        if errs:
            raise ValidationError(f"boost {self.id!r}: " + "; ".join(errs))
        return self

    def status(self, now: datetime | None = None) -> tuple[bool, str]:
        """(acts at `now`, why in words), e.g. (False, 'ended 2026-11-20 18:00 UTC')."""
        return window_status(self.starts, self.ends, now)

    def in_force(self, source: ProductCard | None, now: datetime | None = None) -> bool:
        return scope_matches(self.scope, source) and self.status(now)[0]

    def holds(self, card: ProductCard, now: datetime | None = None) -> bool:
        return condition_holds(*self.condition, card, now or utc_now())

    def describe(self) -> str:
        """'bury: stock below 5', 'boost: brand in Luma, Zeta' — for lists of boosts in the console."""
        name, value = self.condition
        words = {"stock_below": f"stock below {value}",
                 "margin_above": f"margin above {value}",
                 "new_within_days": f"new within {value} days"}.get(name)
        if words is None:
            words = f"{name.split('_')[0]} in {', '.join(map(str, value))}"
        return f"{'boost' if self.strength > 0 else 'bury'}: {words}"


def apply_boosts(source: ProductCard | None, ranked: Sequence[Recommendation], boosts: Sequence[Boost],
                 now: datetime | None = None) -> list[Recommendation]:
    """The pool with each matching candidate's score raised (or lowered) by the boosts in force for this
    source at `now`, re-sorted stably by score. Results are new objects; a candidate no boost touched keeps
    its score and factors exactly."""
    now = now or utc_now()
    acting = [b for b in boosts if b.validate().in_force(source, now)]
    if not acting:
        return list(ranked)
    out = []
    for rec in ranked:
        hits = [b for b in acting if b.holds(rec.product, now)]
        if not hits:
            out.append(rec)
            continue
        total = sum(float(b.strength) for b in hits)
        factors = dict(rec.factors) | {f"{FACTOR}:{b.id}": float(b.strength) for b in hits}
        factors[FACTOR] = factors.get(FACTOR, 0.0) + total
        out.append(replace(rec, score=rec.score + total, factors=factors))
    out.sort(key=lambda r: -r.score)  # sort is stable: equal scores keep the strategy's order
    return out
