"""Records passed between the catalog, the store, the reranker and the callers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from engine.errors import ValidationError

VECTOR_KINDS = ("text", "image", "combined")


@dataclass
class Filters:
    """What a caller may restrict results to. Translated once per store into Qdrant filters."""

    category_ids: list[int] = field(default_factory=list)  # any of these (a parent matches its whole subtree)
    price_min: float | None = None
    price_max: float | None = None
    colours: list[str] = field(default_factory=list)  # lower-case colour names, any of
    brands: list[str] = field(default_factory=list)  # any of
    exclude_brands: list[str] = field(default_factory=list)
    exclude_ids: list[int] = field(default_factory=list)
    exclude_groups: list[str] = field(default_factory=list)  # variant groups (style) to leave out
    active_only: bool = True
    in_stock: bool = False

    def validate(self) -> "Filters":
        for name in ("price_min", "price_max"):
            v = getattr(self, name)
            if v is not None:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise ValidationError(f"{name} must be a number, got {v!r}") from None
                if math.isnan(v) or math.isinf(v):
                    raise ValidationError(f"{name} must be a finite number, got {v}")
                if v < 0:
                    raise ValidationError(f"{name} must not be negative, got {v}")
                setattr(self, name, v)
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValidationError(f"price range is inverted: min {self.price_min} > max {self.price_max}")
        self.colours = [c.strip().lower() for c in self.colours if c and c.strip()]
        self.category_ids = [int(c) for c in self.category_ids]
        self.exclude_ids = [int(i) for i in self.exclude_ids]
        return self

    def matches(self, card: "ProductCard") -> bool:
        """The same test the store applies, for a product that did not come from a store query (a pin)."""
        if self.active_only and not card.is_active or self.in_stock and not card.in_stock:
            return False
        if self.price_min is not None and card.price < self.price_min:
            return False
        if self.price_max is not None and card.price > self.price_max:
            return False
        if self.colours and (card.colour or "").lower() not in self.colours:
            return False
        if self.brands and card.brand not in self.brands or card.brand and card.brand in self.exclude_brands:
            return False
        if self.category_ids and not set(self.category_ids) & set(card.category_ids):
            return False
        return card.id not in self.exclude_ids and (card.group_key or card.sku) not in self.exclude_groups


@dataclass
class ProductCard:
    """What a result shows of a product (a read-only snapshot of the catalog row)."""

    id: int
    sku: str
    title: str
    price: float
    colour: str | None = None
    brand: str | None = None
    category_id: int | None = None
    category: str | None = None  # leaf category name
    category_path: str | None = None  # "Men / Tops / Jackets"
    image: str | None = None  # absolute path or URL of the main photo
    in_stock: bool = True
    is_active: bool = True
    group_key: str | None = None
    created_at: datetime | None = None
    description: str = ""
    language: str | None = None
    category_ids: list[int] = field(default_factory=list)  # leaf first, then its ancestors up to the root
    stock_qty: int = 0
    cost: float | None = None
    views: int = 0
    sales: int = 0
    popularity: float | None = None  # from events (time-decayed), when analytics has computed it


@dataclass
class Recommendation:
    """One ranked result: the product, its score and where the score came from."""

    product: ProductCard
    score: float  # final score (cosine for plain vector order)
    vector: str  # text | image | combined | (algorithm name for non-vector sources)
    rank: int = 0
    similarity: float | None = None  # raw vector similarity before reranking
    factors: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    relation: str | None = None  # complete the look: shoes, bag, bottom...

    @property
    def match_percent(self) -> int:
        s = self.similarity if self.similarity is not None else self.score
        return int(round(max(0.0, min(1.0, s)) * 100))


T = TypeVar("T", "ProductCard", "Recommendation")


def copied(rec: T, **changes) -> T:
    """`dataclasses.replace(rec, **changes)` without its per-call field introspection, for ProductCard and
    Recommendation: the reranker copies every candidate of every request, and every candidate's card is stamped
    with its popularity. Neither has __post_init__ or slots, so a copy of the fields is the record replace would
    build; an unknown field name is refused as replace refuses it."""
    fields = rec.__dict__
    for name in changes:
        if name not in fields:
            raise TypeError(f"{type(rec).__name__} has no field {name}")
    new = object.__new__(type(rec))
    new.__dict__ = {**fields, **changes}
    return new
