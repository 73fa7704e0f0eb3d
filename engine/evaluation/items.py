"""The catalog as the evaluation judges it: each active product's style, leaf, attributes and photos, and the
curated links the ground-truth tasks score against, read once from SQL."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.catalog.models import Product, ProductLink
from engine.errors import VitrinaError
from engine.evaluation.attributes import Attributes, gender_of
from engine.evaluation.splits import SPLIT_SEED, split_of


class NoGroundTruth(VitrinaError):
    """The catalog holds no curated links: there is nothing for the built-in tasks to score against."""


@dataclass
class Item:
    id: int
    sku: str
    title: str
    group: str  # the style: colour variants share it
    leaf: int | None
    leaf_name: str | None
    path: str  # "Men/Tops/Jackets"
    price: float
    colour: str | None
    gender: str | None
    main_image: str | None
    alt_images: list[str] = field(default_factory=list)  # other views (alt, back)

    @property
    def attributes(self) -> Attributes:
        return Attributes(self.colour, self.leaf_name, self.gender)

    def split(self, seed: int = SPLIT_SEED) -> str:
        """Products are split by style, so no variant of a test style is ever tuned on."""
        return split_of("style:" + self.group, seed)


@dataclass
class Catalog:
    items: dict[int, Item]
    links: dict[str, dict[int, set[int]]]  # kind -> source id -> linked ids (both active)

    @property
    def upsell(self) -> dict[int, set[int]]:
        return self.links.get("upsell", {})


def load(runtime) -> Catalog:
    """Every active product and every link between two of them. An empty catalog is refused by name."""
    with runtime.db.session() as s:
        products = s.scalars(select(Product).where(Product.is_active.is_(True))
                             .options(selectinload(Product.images), selectinload(Product.category))).all()
        items = {}
        for p in products:
            path = p.category.path if p.category else ""
            items[p.id] = Item(p.id, p.sku, p.title, p.group_key or p.sku, p.category_id,
                               p.category.name if p.category else None, path, float(p.price or 0), p.colour,
                               gender_of(path, p.attributes), p.images[0].path if p.images else None,
                               [im.path for im in p.images if im.role in ("alt", "back")])
        links: dict[str, dict[int, set[int]]] = {}
        for src, dst, kind in s.execute(select(ProductLink.product_id, ProductLink.linked_id, ProductLink.kind)):
            if src in items and dst in items:
                links.setdefault(kind, {}).setdefault(src, set()).add(dst)
    if not items:
        raise VitrinaError("the catalog is empty: import one first")
    return Catalog(items, links)


def require_ground_truth(cat: Catalog) -> None:
    """The built-in tasks score against curated links (Magento's upsell / related / cross-sell); a catalog
    without them is told so rather than shown rows of figures that mean nothing."""
    if not any(cat.links.values()):
        raise NoGroundTruth(
            "this catalog has no curated product links (upsell / related / cross-sell), the ground truth the "
            "built-in evaluation scores against; score it with your own judged queries instead: "
            "python -m engine evaluate --queries FILE (one JSON object a line: "
            '{"text": "...", "relevant": ["SKU", ...]} or {"image": "photo.jpg", "relevant": [...]})')
