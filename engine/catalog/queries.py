"""Read access to the catalog for the recommender, the CLI and the console.

Every call runs a fixed, small number of queries whatever the number of products (batch loads, no lazy
loading per row), and returns plain records (`ProductCard`, dataclasses, dicts) that stay valid after the
session is closed. The category tree is small and append-only (importers create categories by path and
never move them), so it is cached per Catalog (engine.catalog.tree) and reloaded only when a product names a
category the cache has not seen yet; its product counts are counted in SQL and kept per catalog version
(`Catalog.version`). Text search lives in engine.catalog.search (SQL-side, an FTS5 or trigram index).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import joinedload, selectinload

from engine.catalog.cards import card_of_row, product_id, read_cards
from engine.catalog.db import Database
from engine.catalog.importers.common import LINK_KINDS
from engine.catalog.models import Brand, Category, Product, ProductCategory, ProductImage, ProductLink
from engine.catalog.search import search_ids
from engine.catalog.tree import CategoryTree
from engine.errors import NotFound, ValidationError
from engine.types import ProductCard

MAX_PAGE = 1000

# Distinct products under each category's subtree, by primary category or membership (what list_products
# matches): every (product, category) pair joined to the category's ancestors, counted per ancestor.
_SUBTREE_TOTALS = text("""
    WITH RECURSIVE up(cid, aid) AS (
        SELECT id, id FROM categories
        UNION ALL SELECT up.cid, c.parent_id FROM up JOIN categories c ON c.id = up.aid WHERE c.parent_id IS NOT NULL)
    SELECT up.aid, count(DISTINCT filed.pid) FROM up JOIN (
        SELECT id AS pid, category_id AS cid FROM products WHERE category_id IS NOT NULL
        UNION ALL SELECT product_id, category_id FROM product_categories) filed ON filed.cid = up.cid
    GROUP BY up.aid""")


def _not_found(key: int | str) -> NotFound:
    return NotFound(f"no product with sku {key.strip()!r}" if isinstance(key, str) else f"no product with id {key}")


@dataclass
class CategoryNode:
    id: int
    name: str
    path: str  # natural key, "Men/Tops/Jackets"
    label: str  # for people, "Men / Tops / Jackets"
    parent_id: int | None
    depth: int  # 0 for a root
    children: list[int] = field(default_factory=list)
    products: int = 0  # products whose primary category this is
    members: int = 0  # products assigned to it directly (collections count here)
    total: int = 0  # distinct products in its subtree, by primary category or membership (as list_products)


@dataclass
class ProductPage:
    items: list[ProductCard]
    total: int  # matches over all pages
    limit: int
    offset: int

    def __iter__(self):  # a page reads like the list of its cards
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class CatalogStats:
    products: int
    active: int
    in_stock: int
    with_images: int
    images: int
    styles: int  # distinct variant groups
    categories: int
    brands: int
    links: dict[str, int]
    per_category: dict[int, int]  # primary category id -> products
    per_source: dict[str, int]  # importer -> products
    without_colour: int


class Catalog:
    def __init__(self, db: Database):
        self.db = db
        self._tree: CategoryTree | None = None
        self._counted: tuple[tuple, list[CategoryNode]] | None = None  # (catalog version, categories())
        self._facets: dict[tuple, tuple[tuple, object]] = {}  # facet -> (catalog version, value)
        self._lock = threading.Lock()

    # ---- category tree -----------------------------------------------------------------------------
    def _load_tree(self) -> CategoryTree:
        with self.db.session() as s:
            rows = [tuple(r) for r in s.execute(select(Category.id, Category.name, Category.path, Category.parent_id))]
        with self._lock:
            self._tree = CategoryTree(rows)
        return self._tree

    def _tree_for(self, ids: set[int | None] = frozenset()) -> CategoryTree:
        tree = self._tree
        if tree is None or any(c is not None and c not in tree.name for c in ids):
            tree = self._load_tree()
        return tree

    def _category_id(self, category_id: int) -> CategoryTree:
        if isinstance(category_id, bool) or not isinstance(category_id, int):
            raise ValidationError(f"a category id is a whole number, got {category_id!r}")
        tree = self._tree_for({category_id})
        if category_id not in tree.name:
            raise NotFound(f"no category with id {category_id}")
        return tree

    # ---- products ----------------------------------------------------------------------------------
    @staticmethod
    def _loaded():
        return (selectinload(Product.images), joinedload(Product.brand), joinedload(Product.category),
                selectinload(Product.categories))

    def get(self, key: int | str) -> Product:
        """A product by id (int) or sku (str; an all-digit string that is no sku is tried as an id).
        Images, brand and categories are loaded, so the object is usable after its session closed."""
        pid = self._product_id(key)
        with self.db.session() as s:
            p = s.scalar(select(Product).where(Product.id == pid).options(*self._loaded())) if pid is not None else None
            if p is None:
                raise _not_found(key)
            return p

    def card_of(self, key: int | str) -> ProductCard:
        """A product's card by id or sku, with get's rules and errors, read as plain columns (engine.catalog.cards):
        the service resolves every request's product by sku, and at 100k products an ORM load with its
        relationships was a tenth of an uncached request."""
        pid = self._product_id(key)
        card = self.cards([pid]).get(pid) if pid is not None else None
        if card is None:
            raise _not_found(key)
        return card

    def _product_id(self, key: int | str) -> int | None:
        """The id a product key names (None for a sku no product has); ValidationError for no key at all."""
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise ValidationError(f"a product is named by id or sku, got {key!r}")
        if isinstance(key, int):
            return key
        if not key.strip():
            raise ValidationError("the sku is empty")
        return product_id(self.db, key.strip())

    def card(self, product: Product) -> ProductCard:
        return card_of_row(product, self._tree_for({product.category_id}),
                           product.brand.name if product.brand is not None else None,
                           product.images[0].path if product.images else None)

    def cards(self, ids: list[int]) -> dict[int, ProductCard]:
        """Cards by product id, in the order given; unknown ids are left out (engine.catalog.cards)."""
        return read_cards(self.db, ids, self._tree_for)

    def search(self, text: str, limit: int = 20, active_only: bool = False) -> list[ProductCard]:
        """Products whose sku or title contains `text`, case-insensitively: exact sku first, then sku
        prefixes, then title prefixes, then the rest by title."""
        limit = self._limit(limit)
        needle = (text or "").strip()
        if not needle:
            return []
        return list(self.cards(search_ids(self.db, needle, limit, active_only)).values())

    @staticmethod
    def _limit(limit: int, offset: int = 0) -> int:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be a whole number from 1 to {MAX_PAGE}, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError(f"offset must be a whole number >= 0, got {offset!r}")
        return limit

    def list_products(self, category_id: int | None = None, *, colour: str | None = None,
                      brand: str | None = None, active_only: bool = False, in_stock: bool = False,
                      limit: int = 50, offset: int = 0) -> ProductPage:
        """A page of products by id. A category matches its whole subtree, by primary category or by
        membership (so a collection such as Collections/Eco Friendly lists its products)."""
        self._limit(limit, offset)
        conds = []
        if category_id is not None:
            ids = self._category_id(category_id).subtree(category_id)
            conds.append(or_(Product.category_id.in_(ids),
                             Product.id.in_(select(ProductCategory.product_id)
                                            .where(ProductCategory.category_id.in_(ids)))))
        if colour:
            conds.append(Product.colour == colour.strip().lower())
        if brand:
            conds.append(Product.brand_id.in_(select(Brand.id).where(Brand.name == brand.strip())))
        if active_only:
            conds.append(Product.is_active.is_(True))
        if in_stock:
            conds.append(Product.stock_qty > 0)
        where = and_(*conds) if conds else None
        with self.db.session() as s:
            count_q = select(func.count()).select_from(Product)
            ids_q = select(Product.id).order_by(Product.id).limit(limit).offset(offset)
            if where is not None:
                count_q, ids_q = count_q.where(where), ids_q.where(where)
            total = s.scalar(count_q) or 0
            ids = list(s.scalars(ids_q))
        return ProductPage(items=list(self.cards(ids).values()), total=total, limit=limit, offset=offset)

    def existing(self, ids: Iterable[int]) -> list[int]:
        """Which of these product ids the catalog holds (active or not)."""
        wanted = sorted({int(i) for i in ids})
        with self.db.session() as s:
            return list(s.scalars(select(Product.id).where(Product.id.in_(wanted)).order_by(Product.id)))

    def ids(self, active_only: bool = False) -> list[int]:
        q = select(Product.id).order_by(Product.id)
        if active_only:
            q = q.where(Product.is_active.is_(True))
        with self.db.session() as s:
            return list(s.scalars(q))

    # ---- categories --------------------------------------------------------------------------------
    def version(self) -> tuple:
        """The catalog's state in one cheap statement (indexed maxima and counts): newest product change,
        highest product id, products, active products, category memberships, categories. Anything computed
        from the catalog and kept is kept per this value, so an import or an edit is never answered from a
        cache (importers bump `updated_at` whenever a product's content changes)."""
        one = lambda q: q.scalar_subquery()  # noqa: E731
        q = select(one(select(func.max(Product.updated_at))), one(select(func.max(Product.id))),
                   one(select(func.count()).select_from(Product)),
                   one(select(func.count()).select_from(Product).where(Product.is_active.is_(True))),
                   one(select(func.count()).select_from(ProductCategory)),
                   one(select(func.count()).select_from(Category)))
        with self.db.session() as s:
            return tuple(s.execute(q).one())

    def categories(self) -> list[CategoryNode]:
        """The whole tree, parents before children, with product counts: counted by the database (GROUP BY
        over the category closure, a recursive CTE) once per catalog version, then answered from memory."""
        version = self.version()
        counted = self._counted
        if counted is not None and counted[0] == version:
            return list(counted[1])
        tree = self._load_tree()
        with self.db.session() as s:
            primary = dict(s.execute(select(Product.category_id, func.count()).where(
                Product.category_id.is_not(None)).group_by(Product.category_id)).all())
            members = dict(s.execute(select(ProductCategory.category_id, func.count())
                                     .group_by(ProductCategory.category_id)).all())
            total = dict.fromkeys(tree.name, 0) | dict(s.execute(_SUBTREE_TOTALS).all())
        nodes = [CategoryNode(id=cid, name=tree.name[cid], path=tree.path[cid], label=tree.label(cid),
                              parent_id=tree.parent[cid], depth=len(tree.chain(cid)) - 1,
                              children=list(tree.children[cid]), products=primary.get(cid, 0),
                              members=members.get(cid, 0), total=total.get(cid, 0)) for cid in tree.name]
        order = {cid: i for i, cid in enumerate(
            c for root in sorted((c for c in tree.name if tree.parent[c] is None), key=lambda c: tree.path[c])
            for c in tree.subtree(root))}
        nodes.sort(key=lambda n: order.get(n.id, len(order)))
        self._counted = (version, nodes)
        return list(nodes)

    def category_id(self, key: int | str) -> int:
        """A category's id from its id, path ("Men/Tops/Jackets") or label ("Men / Tops / Jackets"), without
        counting products (what a request path needs)."""
        if isinstance(key, str):
            path = "/".join(p.strip() for p in key.replace(" > ", "/").split("/") if p.strip())
            tree = self._tree_for()
            found = next((c for c, p in tree.path.items() if p == path), None)
            if found is None:
                tree = self._load_tree()
                found = next((c for c, p in tree.path.items() if p == path), None)
            if found is None:
                raise NotFound(f"no category with path {key!r}")
            return found
        self._category_id(key)
        return key

    def category(self, key: int | str) -> CategoryNode:
        """One category by id, path or label, with its product counts."""
        cid = self.category_id(key)
        return next(n for n in self.categories() if n.id == cid)

    def category_ancestors(self, category_id: int, include_self: bool = False) -> list[int]:
        """Ids above the category, nearest first up to the root (the category itself first if asked)."""
        chain = self._category_id(category_id).chain(category_id)
        return chain if include_self else chain[1:]

    def category_descendants(self, category_id: int, include_self: bool = True) -> list[int]:
        """Ids of the category's subtree in tree order — what a filter on a parent category matches."""
        sub = self._category_id(category_id).subtree(category_id)
        return sub if include_self else sub[1:]

    # ---- facets ------------------------------------------------------------------------------------
    def _kept(self, key: tuple, compute):
        """`compute()` once per catalog version (a GROUP BY over every product costs 0.2–0.4 s at 100,000
        products, and the console's sidebar asks on every rerun)."""
        version = self.version()
        hit = self._facets.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        self._facets[key] = (version, value)
        return value

    def colours(self, active_only: bool = True) -> dict[str, int]:
        """Colours present, most common first."""
        q = select(Product.colour, func.count()).where(Product.colour.is_not(None)).group_by(Product.colour)
        if active_only:
            q = q.where(Product.is_active.is_(True))

        def count() -> dict[str, int]:
            with self.db.session() as s:
                rows = s.execute(q).all()
            return dict(sorted(((c, n) for c, n in rows), key=lambda r: (-r[1], r[0])))
        return dict(self._kept(("colours", active_only), count))

    def brands(self, active_only: bool = True) -> dict[str, int]:
        """Brands present, most common first."""
        q = select(Brand.name, func.count()).join(Product, Product.brand_id == Brand.id).group_by(Brand.name)
        if active_only:
            q = q.where(Product.is_active.is_(True))

        def count() -> dict[str, int]:
            with self.db.session() as s:
                rows = s.execute(q).all()
            return dict(sorted(((b, n) for b, n in rows), key=lambda r: (-r[1], r[0])))
        return dict(self._kept(("brands", active_only), count))

    def price_range(self, active_only: bool = True) -> tuple[float, float] | None:
        q = select(func.min(Product.price), func.max(Product.price))
        if active_only:
            q = q.where(Product.is_active.is_(True))

        def bounds() -> tuple[float, float] | None:
            with self.db.session() as s:
                lo, hi = s.execute(q).one()
            return None if lo is None else (float(lo), float(hi))
        return self._kept(("price", active_only), bounds)

    def links(self, kind: str | None = None) -> dict[int, set[int]]:
        """Curated links: source product id -> linked product ids (of one kind, or all kinds)."""
        q = select(ProductLink.product_id, ProductLink.linked_id)
        if kind is not None:
            if kind not in LINK_KINDS:
                raise ValidationError(f"unknown link kind {kind!r}: use one of {', '.join(LINK_KINDS)}")
            q = q.where(ProductLink.kind == kind)
        out: dict[int, set[int]] = {}
        with self.db.session() as s:
            for src, dst in s.execute(q):
                out.setdefault(src, set()).add(dst)
        return out

    def stats(self) -> CatalogStats:
        with self.db.session() as s:
            count = lambda q: s.scalar(q) or 0  # noqa: E731
            n = select(func.count()).select_from(Product)
            return CatalogStats(
                products=count(n),
                active=count(n.where(Product.is_active.is_(True))),
                in_stock=count(n.where(Product.stock_qty > 0)),
                with_images=count(select(func.count(func.distinct(ProductImage.product_id)))),
                images=count(select(func.count()).select_from(ProductImage)),
                styles=count(select(func.count(func.distinct(func.coalesce(Product.group_key, Product.sku))))),
                categories=count(select(func.count()).select_from(Category)),
                brands=count(select(func.count()).select_from(Brand)),
                links=dict.fromkeys(LINK_KINDS, 0) | dict(s.execute(select(ProductLink.kind, func.count())
                                                                    .group_by(ProductLink.kind)).all()),
                per_category=dict(s.execute(select(Product.category_id, func.count())
                                            .where(Product.category_id.is_not(None))
                                            .group_by(Product.category_id)).all()),
                per_source=dict(s.execute(select(func.coalesce(Product.source, ""), func.count())
                                          .group_by(Product.source)).all()),
                without_colour=count(n.where(Product.colour.is_(None))),
            )
