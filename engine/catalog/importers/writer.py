"""Writing validated products: the idempotent upsert by natural key, in batches of one transaction each.

A product is created or updated only from a `ProductData` the importer has already validated; categories
(by path) and brands (by name) are created on first use. A stored product whose content equals the source
keeps its `updated_at`, so re-importing the same files reports everything unchanged.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from engine.catalog.importers.common import ImportReport, RowError, Ticker
from engine.catalog.importers.limits import unstorable
from engine.catalog.importers.parsing import MAX_INT
from engine.catalog.models import Brand, Category, Product, ProductImage, utcnow

MAX_SKU = 128  # the width of products.sku
MAX_TITLE = 500  # the width of products.title
FIELDS = ("title", "description", "price", "cost", "stock_qty", "colour", "is_active", "group_key",
          "language", "brand", "category", "categories", "attributes", "images", "created_at")


@dataclass
class ProductData:
    """One validated product as a source describes it. `present` lists the fields the source states; on
    update only those are written, so a partial feed (say price and stock only) leaves the rest alone."""

    sku: str
    title: str
    price: float
    description: str = ""
    cost: float | None = None
    stock_qty: int = 0
    colour: str | None = None
    is_active: bool = True
    group_key: str | None = None
    language: str | None = None
    brand: str | None = None
    category: tuple[str, ...] | None = None  # primary category path parts
    categories: list[tuple[str, ...]] = field(default_factory=list)  # every membership (primary included)
    attributes: dict = field(default_factory=dict)
    attributes_merge: bool = False  # True: keys are merged into the stored ones (None deletes a key)
    images: list[tuple[str, str]] = field(default_factory=list)  # (path, role), main first
    created_at: datetime | None = None
    present: frozenset[str] = frozenset(FIELDS)
    file: str = ""
    line: int = 0

    def __post_init__(self) -> None:
        self.title = html.unescape(self.title)  # "Lumaflex&trade; Band" is shown as "Lumaflex™ Band" everywhere


class CatalogWriter:
    """Upserts products, categories and brands inside one session; keeps natural-key caches for it."""

    def __init__(self, session: Session, source: str, report: ImportReport):
        self.s, self.source, self.report = session, source, report
        self.categories: dict[str, Category] = {c.path: c for c in session.scalars(select(Category))}
        self.brands: dict[str, Brand] = {b.name: b for b in session.scalars(select(Brand))}

    def category(self, parts: Iterable[str]) -> Category | None:
        """The category at this path, created with any missing ancestors."""
        parent: Category | None = None
        path = ""
        for name in parts:
            path = f"{path}/{name}" if path else name
            cat = self.categories.get(path)
            if cat is None:
                cat = Category(name=name, path=path, parent=parent)
                self.s.add(cat)
                self.categories[path] = cat
                self.report.categories_created += 1
            parent = cat
        if parent is not None and parent.id is None:
            self.s.flush()
        return parent

    def brand(self, name: str | None) -> Brand | None:
        if not name:
            return None
        b = self.brands.get(name)
        if b is None:
            b = Brand(name=name)
            self.s.add(b)
            self.s.flush()
            self.brands[name] = b
            self.report.brands_created += 1
        return b

    def existing(self, skus: Iterable[str]) -> dict[str, Product]:
        """Stored products by sku, with images and categories loaded in two batch queries."""
        out: dict[str, Product] = {}
        skus = list(dict.fromkeys(skus))
        for i in range(0, len(skus), 500):
            chunk = skus[i:i + 500]
            for p in self.s.scalars(select(Product).where(Product.sku.in_(chunk))
                                    .options(selectinload(Product.images), selectinload(Product.categories))):
                out[p.sku] = p
        return out

    def upsert(self, d: ProductData, current: Product | None) -> tuple[str, Product]:
        """Create or update one product; returns ("created" | "updated" | "unchanged", product)."""
        has = d.present.__contains__ if current is not None else (lambda _name: True)
        values: dict = {}
        for name in ("title", "description", "price", "cost", "stock_qty", "colour", "is_active", "language"):
            if has(name):
                values[name] = getattr(d, name)
        if has("group_key"):
            values["group_key"] = d.group_key or d.sku
        if has("brand"):
            values["brand_id"] = b.id if (b := self.brand(d.brand)) else None
        if has("category"):
            values["category_id"] = c.id if (c := self.category(d.category or ())) else None
        if has("created_at") and d.created_at is not None:
            values["created_at"] = d.created_at
        if has("attributes"):
            if d.attributes_merge and current is not None:
                attrs = dict(current.attributes or {})
                for k, v in d.attributes.items():
                    if v is None:
                        attrs.pop(k, None)
                    else:
                        attrs[k] = v
            else:
                attrs = {k: v for k, v in d.attributes.items() if v is not None}
            values["attributes"] = attrs
        cats: list[Category] | None = None
        if has("categories") or has("category"):
            paths = list(d.categories) if has("categories") else []
            if has("category") and d.category and tuple(d.category) not in [tuple(p) for p in paths]:
                paths.insert(0, tuple(d.category))
            cats = [c for c in (self.category(p) for p in paths) if c is not None]
            cats = list({c.id: c for c in cats}.values())

        if current is None:
            p = Product(sku=d.sku, source=self.source, **values)
            p.images = [ProductImage(path=path, role=role, position=i) for i, (path, role) in enumerate(d.images)]
            p.categories = cats or []
            self.s.add(p)
            return "created", p

        changed = False
        for name, value in values.items():
            if getattr(current, name) != value:
                setattr(current, name, value)
                changed = True
        if has("images"):
            if [(im.path, im.role) for im in current.images] != list(d.images):
                current.images.clear()
                current.images.extend(ProductImage(path=path, role=role, position=i)
                                      for i, (path, role) in enumerate(d.images))
                changed = True
        if cats is not None and {c.id for c in current.categories} != {c.id for c in cats}:
            current.categories = cats
            changed = True
        if changed:
            current.updated_at = utcnow()
            return "updated", current
        return "unchanged", current


def _write_batch(db, batch: list[ProductData], source: str) -> ImportReport:
    """One transaction: every product of the batch is written, or (on error) none is."""
    tally = ImportReport(source)
    with db.session() as s:
        writer = CatalogWriter(s, source, tally)
        current = writer.existing(d.sku for d in batch)
        for d in batch:
            outcome, _ = writer.upsert(d, current.get(d.sku))
            tally.count(outcome)
    return tally


def _merge(into: ImportReport, part: ImportReport) -> None:
    for name in ("created", "updated", "unchanged", "categories_created", "brands_created"):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    into.rejected += part.rejected


def _refused(e: DBAPIError) -> bool:
    """The database refused the data, not the statement: a constraint, a value it cannot store, or a trigger
    raising an error (SQLite reports that as IntegrityError, PostgreSQL's RAISE as SQLSTATE class P0)."""
    if isinstance(e, (IntegrityError, DataError)):
        return True
    state = getattr(e.orig, "sqlstate", None) or getattr(e.orig, "pgcode", None)
    return isinstance(state, str) and state[:2] in ("22", "23", "P0")


def systemic(e: Exception) -> bool:
    """An error of the database itself (gone, locked, a statement it rejects) rather than of one row's data:
    it stops the import. Anything else raised while writing a row (a value the driver cannot encode, an int
    it cannot convert) belongs to that row."""
    return isinstance(e, SQLAlchemyError) and not (isinstance(e, DBAPIError) and _refused(e))


def _unwritable(d: ProductData) -> str | None:
    """Why a product cannot be stored on every database, whichever importer built it: text with a NUL or a
    lone surrogate (the UTF-8 encoders of SQLite and PostgreSQL fail on it), a stock wider than INTEGER."""
    if not 0 <= d.stock_qty <= MAX_INT:
        return f"stock {d.stock_qty} is outside 0..{MAX_INT}"
    for name in ("sku", "title", "description", "colour", "group_key", "language", "brand", "category",
                 "categories", "attributes", "images"):
        if reason := unstorable(getattr(d, name), name):
            return reason
    return None


def write_products(db, items: list[ProductData], source: str, report: ImportReport, ticker: Ticker,
                   batch_size: int) -> None:
    """Writes validated products in batches, one transaction each. A product no database can store is
    rejected before any writing. If writing a batch fails for its data (a constraint or trigger the
    validation does not know, a value the driver refuses), it is retried one product per transaction, so
    the failing row becomes a RowError and the others still land; counts come only from commits. A
    systemic error (the database is gone) stops the import."""
    for i in range(0, len(items), max(1, batch_size)):
        batch, chunk = [], items[i:i + batch_size]
        part = ImportReport(source)
        for d in chunk:
            if reason := _unwritable(d):
                part.rejected.append(RowError(d.file, d.line, f"{d.sku!r}: {reason}"))
            else:
                batch.append(d)
        try:
            if batch:
                _merge(part, _write_batch(db, batch, source))
        except Exception as e:
            if systemic(e):
                raise
            for d in batch:
                try:
                    _merge(part, _write_batch(db, [d], source))
                except Exception as err:
                    if systemic(err):
                        raise
                    reason = getattr(err, "orig", None) or err
                    part.rejected.append(RowError(d.file, d.line, f"{d.sku}: the database refused the row: {reason}"))
        _merge(report, part)
        ticker.advance(len(chunk))
