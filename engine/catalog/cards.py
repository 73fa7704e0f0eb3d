"""Product cards read as plain columns (no ORM objects, no attribute JSON): every recommendation list of a large
catalog misses the card cache on most of its candidates, and building ORM objects with their relationships
cost ten times the queries. Catalog.cards and Catalog.card_of are the public face of these functions."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import bindparam, select

from engine.catalog.db import Database
from engine.catalog.models import Brand, Product, ProductImage
from engine.catalog.tree import CategoryTree
from engine.types import ProductCard

# An expanding parameter compiles once instead of coercing every id; chunks stay under SQLite's variable limit.
_CARD_COLUMNS = (Product.id, Product.sku, Product.title, Product.price, Product.colour, Brand.name.label("brand_name"),
                 Product.category_id, Product.stock_qty, Product.is_active, Product.group_key, Product.created_at,
                 Product.description, Product.language, Product.cost, Product.views, Product.sales)
_CARDS = (select(*_CARD_COLUMNS).outerjoin(Brand, Brand.id == Product.brand_id)
          .where(Product.id.in_(bindparam("ids", expanding=True))))
_MAIN_IMAGES = (select(ProductImage.product_id, ProductImage.path)
                .where(ProductImage.product_id.in_(bindparam("ids", expanding=True)))
                .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id))
_BY_SKU = select(Product.id).where(Product.sku == bindparam("sku"))
CHUNK = 900


def product_id(db: Database, sku: str) -> int | None:
    """The id of the product with this sku; an all-digit sku that names no product is taken as an id (as
    Catalog.get does), which the caller still has to find."""
    with db.engine.connect() as conn:
        pid = conn.execute(_BY_SKU, {"sku": sku}).scalar()
    if pid is None and sku.isdigit():
        return int(sku)
    return pid


def read_cards(db: Database, ids: list[int], tree_for: Callable[[set], CategoryTree]) -> dict[int, ProductCard]:
    """Cards by product id, in the order given; unknown ids are left out. `tree_for` gives a category tree
    that knows the categories named (Catalog._tree_for)."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        return {}
    rows: dict[int, object] = {}
    images: dict[int, str] = {}
    with db.engine.connect() as conn:
        for i in range(0, len(wanted), CHUNK):
            chunk = {"ids": wanted[i:i + CHUNK]}
            rows.update((r.id, r) for r in conn.execute(_CARDS, chunk).all())
            for pid, path in conn.execute(_MAIN_IMAGES, chunk).all():
                images.setdefault(pid, path)
    tree = tree_for({r.category_id for r in rows.values()})
    return {i: card_of_row(rows[i], tree, rows[i].brand_name, images.get(i)) for i in wanted if i in rows}


def card_of_row(p, tree: CategoryTree, brand: str | None, image: str | None) -> ProductCard:
    """A card from a Product or a row of _CARD_COLUMNS (the same attribute names)."""
    cid = p.category_id if p.category_id in tree.name else None
    return ProductCard(
        id=p.id, sku=p.sku, title=p.title, price=float(p.price or 0.0), colour=p.colour, brand=brand,
        category_id=cid, category=tree.name[cid] if cid is not None else None,
        category_path=tree.label(cid) if cid is not None else None,
        image=image, in_stock=(p.stock_qty or 0) > 0,
        is_active=bool(p.is_active), group_key=p.group_key, created_at=p.created_at,
        description=p.description or "", language=p.language, category_ids=tree.chain(cid),
        stock_qty=int(p.stock_qty or 0), cost=p.cost, views=int(p.views or 0), sales=int(p.sales or 0))
