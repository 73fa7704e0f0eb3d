"""What every importer shares: the report, line-numbered CSV reading, value parsing and the idempotent upsert.

Importers first turn each source record into a validated `ProductData` (or a `RowError` naming the file
and the line the record starts on), and only then write. So a bad row never reaches the database, and
writing is a plain upsert by natural key (sku, category path) that bumps `updated_at` only when the
stored content actually changes: a second run over the same files reports everything unchanged.
"""
from __future__ import annotations

import csv
import html
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Callable, Iterable, Iterator, TextIO

from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, selectinload

from engine.errors import ValidationError
from engine.catalog.models import Brand, Category, Product, ProductImage, utcnow

Progress = Callable[[int, int], None]
LINK_KINDS = ("upsell", "related", "crosssell")
MAX_SKU = 128
MAX_TITLE = 500

csv.field_size_limit(16 * 1024 * 1024)  # long HTML descriptions exceed the 128 KiB default


@dataclass
class RowError:
    """A rejected record: the file, the physical line its record starts on, and why."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class ImportReport:
    """What one import did. created/updated/unchanged count products; links and categories have their own."""

    source: str  # importer name: magento | generic
    files: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    categories_created: int = 0
    brands_created: int = 0
    links_created: int = 0
    links_removed: int = 0
    stats: dict[str, float] = field(default_factory=dict)  # counts in the catalog after the import
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def ok(self) -> bool:
        return not self.rejected

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def summary(self) -> str:
        parts = [f"{self.source}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged",
                 f"{len(self.rejected)} rejected", f"{len(self.warnings)} warnings"]
        if self.links_created or self.links_removed:
            parts.append(f"links +{self.links_created}/-{self.links_removed}")
        return ", ".join(parts) + f" in {self.seconds:.2f}s"


class Ticker:
    """Calls `progress(done, total)` about a hundred times per run, so a console bar stays cheap."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done, self._last = progress, total, 0, -1
        self._step = max(1, total // 100)
        self._emit()

    def _emit(self) -> None:
        if self.progress is not None and self.done != self._last:
            self._last = self.done
            self.progress(self.done, self.total)

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if self.done == self.total or self.done - max(self._last, 0) >= self._step:
            self._emit()

    def finish(self) -> None:
        self.done = self.total
        self._emit()


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.t0, 3)


# ---------------------------------------------------------------------------------------------- reading
@dataclass
class CsvRecord:
    line: int  # physical line the record starts on (a quoted field may span several lines)
    values: dict[str, str]


def read_csv(stream: TextIO, file: str, errors: list[RowError], delimiter: str = ",",
             required: Iterable[str] = ()) -> tuple[list[str], Iterator[CsvRecord]]:
    """Header and records of a CSV stream; malformed records become RowErrors and are not yielded.

    The header is read eagerly so a file without a required column fails before anything is written.
    """
    reader = csv.reader(stream, delimiter=delimiter)
    header: list[str] = []
    for row in reader:
        if any(c.strip() for c in row):
            header = [c.strip() for c in row]
            break
    missing = [c for c in required if c not in header]
    if not header or missing:
        raise ValidationError(f"{file}: " + (f"missing required column(s) {', '.join(missing)}" if header
                                             else "the file is empty (no header row)"))
    dupes = sorted({c for c in header if header.count(c) > 1 and c})
    if dupes:
        raise ValidationError(f"{file}: duplicate column(s) {', '.join(dupes)}")

    def records() -> Iterator[CsvRecord]:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a quote never closed: the rest of the file is one broken field
                errors.append(RowError(file, start, f"malformed CSV: {e}"))
                return
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                errors.append(RowError(file, start, f"expected {len(header)} columns, got {len(row)}"))
                continue
            yield CsvRecord(start, dict(zip(header, row)))

    return header, records()


def sniff_delimiter(first_line: str) -> str:
    """Comma, semicolon (spreadsheet exports in ru/tr locales) or tab: whichever the header uses most."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# ----------------------------------------------------------------------------------------------- values
class _TextExtractor(HTMLParser):
    BLOCK = {"p", "br", "li", "ul", "ol", "div", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """Plain text of an HTML fragment: entities decoded, one line per paragraph or list item."""
    if not value:
        return ""
    p = _TextExtractor()
    p.feed(value)
    p.close()
    lines = (" ".join(line.split()) for line in "".join(p.parts).splitlines())
    return "\n".join(line for line in lines if line)


_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def parse_number(value, what: str, *, minimum: float = 0.0) -> float:
    """A finite number >= minimum. Accepts "1 299,90" and "1,299.90" as shops in each locale write them."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        num = float(value)
    else:
        text = str(value).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in text and "." in text:  # the later mark is the decimal one: 1,299.90 or 1.299,90
            text = text.replace(",", "") if text.rfind(",") < text.rfind(".") else text.replace(".", "").replace(",", ".")
        elif "," in text:
            text = text.replace(",", ".")
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{what} must be a number, got {value!r}")
        num = float(text)
    if math.isnan(num) or math.isinf(num):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if num < minimum:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return num


def parse_count(value, what: str) -> int:
    """A whole number >= 0 ("100", "100.0" and 100 are the same stock)."""
    num = parse_number(value, what)
    if num != int(num):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(num)


_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}


def parse_bool(value, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{what} must be one of 1/0/true/false/yes/no, got {value!r}")


def parse_datetime(value, what: str) -> datetime:
    """ISO 8601 date or date-time; an offset is converted to UTC and dropped (the catalog stores naive UTC)."""
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 date, got {value!r}") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def split_path(value: str) -> list[str]:
    """Category path parts from "Men > Tops > Jackets" or "Men/Tops/Jackets"."""
    sep = ">" if ">" in value else "/"
    return [p.strip() for p in value.split(sep) if p.strip()]


def image_roles(paths: list[str], main: str | None = None) -> list[tuple[str, str]]:
    """(path, role) with the main photo first. Roles come from Magento-style names (x_main, x_alt1, x_back);
    `main` names the photo the source designates; otherwise the first unlabelled photo is the main one."""
    def labelled(p: str) -> str | None:
        stem = PurePath(p.split("?")[0]).stem.lower()
        if re.search(r"(^|[_-])back\d*$", stem):
            return "back"
        if re.search(r"(^|[_-])alt\d*$", stem):
            return "alt"
        if re.search(r"(^|[_-])main$", stem):
            return "main"
        return None

    seen: list[str] = []
    for p in paths:
        if p and p not in seen:
            seen.append(p)
    if not seen:
        return []
    roles = {p: labelled(p) for p in seen}
    if main is None or main not in seen:
        main = next((p for p in seen if roles[p] == "main"), None) \
            or next((p for p in seen if roles[p] is None), seen[0])
    rest = [p for p in seen if p != main]
    return [(main, "main")] + [(p, roles[p] if roles[p] in ("alt", "back") else "alt") for p in rest]


# ------------------------------------------------------------------------------------------------ writing
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


def write_products(db, items: list[ProductData], source: str, report: ImportReport, ticker: Ticker,
                   batch_size: int) -> None:
    """Writes validated products in batches, one transaction each. If the database refuses a batch
    (a constraint or trigger the validation does not know), it is retried one product per transaction,
    so the refused row becomes a RowError and the others still land; counts come only from commits."""
    for i in range(0, len(items), max(1, batch_size)):
        batch = items[i:i + batch_size]
        try:
            part = _write_batch(db, batch, source)
        except DBAPIError as e:
            if not _refused(e):
                raise
            part = ImportReport(source)
            for d in batch:
                try:
                    _merge(part, _write_batch(db, [d], source))
                except DBAPIError as err:
                    if not _refused(err):
                        raise
                    reason = getattr(err, "orig", None) or err
                    part.rejected.append(RowError(d.file, d.line, f"{d.sku}: the database refused the row: {reason}"))
        _merge(report, part)
        ticker.advance(len(batch))
