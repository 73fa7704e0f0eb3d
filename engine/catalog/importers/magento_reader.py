"""Reading the Magento 2 sample-data layout (the Luma demo catalog) into validated products and links.

What a shopper buys, and what the recommender compares, is one style in one colour: sizes only split
stock. So the configurable apparel styles of ConfigurableSampleData/products.csv become one product per
(style, colour) — sku "MH01-Black", group_key "MH01" — with stock summed over sizes and the colour's photos.
Gear (CatalogSampleData/SimpleProduct) is imported as it is sold, one product per simple sku. Bundles and
grouped products are sets of other products, not items, and are skipped with a warning. Curated links,
written style-to-style by Magento, are stored product-to-product: every colour of the source style to
every colour of the linked style, which is how the ground truth is used later.

Nothing here writes: engine.catalog.importers.magento stores what this module reads.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from engine.catalog.colours import detect_colour, normalise_colour
from engine.catalog.importers.common import LINK_KINDS, ImportReport, RowError
from engine.catalog.importers.parsing import CsvRecord, html_to_text, image_roles, parse_count, parse_number, read_csv
from engine.catalog.importers.writer import ProductData
from engine.catalog.media import confinement
from engine.errors import NotFound, ValidationError

APPAREL_FILE = "ConfigurableSampleData/products.csv"
GEAR_PRODUCTS = "CatalogSampleData/SimpleProduct/products_*.csv"
GEAR_IMAGES = "CatalogSampleData/SimpleProduct/images_*.csv"
LINK_FILES = ("*/Links/*.csv", "*/Link/*.csv", "ProductLinksSampleData/*.csv")
SKIPPED_MODULES = {"BundleSampleData": "bundle", "GroupedProductSampleData": "grouped"}
STORE_ROOT = "Default Category"  # Magento's invisible root: not part of any shop path
SHOP_ROOTS = ("Men", "Women", "Gear")  # departments; Collections / Promotions are merchandising lists
NOT_ATTRIBUTES = {"has_options", "required_options"}
# Colour codes in Luma gear photo names ("mg01-bk-0.jpg"), checked against the photos themselves.
PHOTO_COLOUR_CODES = {"bk": "black", "br": "brown", "gr": "gray", "lb": "blue", "sa": "beige"}
GEAR_COLUMNS_USED = {"category", "name", "sku", "price", "qty", "description", "visibility", "url_key"}


@dataclass
class LinkRow:
    """One record of a Magento link file as written: a source sku (or style) and what it links to. Skus are
    resolved to product ids only when writing, after the products of the same import have landed."""

    file: str
    line: int
    kind: str
    source: str
    targets: list[str]


def locate(folder: Path) -> tuple[Path, Path]:
    """(fixtures, media) of a dataset root holding `fixtures/`, or of the fixtures folder itself."""
    if not folder.exists():
        raise NotFound(f"catalog folder {folder} does not exist")
    for fixtures in (folder / "fixtures", folder):
        if (fixtures / APPAREL_FILE).is_file() or (fixtures / "CatalogSampleData").is_dir():
            media = fixtures.parent / "media" / "catalog" / "product"
            return fixtures, media
    raise ValidationError(f"{folder} is not a Magento sample-data folder: neither {folder}/fixtures/{APPAREL_FILE} "
                          f"nor {folder}/{APPAREL_FILE} exists")


def parse_additional(value: str) -> dict[str, str]:
    """Magento's `additional_attributes` ("size=XS,color=Black,climate=Cool|Windy"); a piece without "="
    continues the previous value, which held a comma."""
    out: dict[str, str] = {}
    last: str | None = None
    for piece in (value or "").split(","):
        if "=" in piece:
            key, val = piece.split("=", 1)
            last = key.strip()
            out[last] = val.strip()
        elif last is not None:
            out[last] += "," + piece
    return out


def _attr_value(value: str, sep: str) -> str | list[str]:
    parts = [p.strip() for p in value.split(sep) if p.strip()]
    return parts if len(parts) > 1 else (parts[0] if parts else "")


def category_paths(value: str) -> list[tuple[str, ...]]:
    """Paths of a `categories` cell ("Default Category/Men/Tops/Tees,Default Category/Collections/Eco
    Friendly,Default Category") without the store root; the bare root assigns nothing."""
    out: list[tuple[str, ...]] = []
    for item in (value or "").split(","):
        parts = [p.strip() for p in item.split("/") if p.strip()]
        if parts and parts[0] == STORE_ROOT:
            parts = parts[1:]
        if parts and tuple(parts) not in out:
            out.append(tuple(parts))
    return out


def primary_category(paths: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The deepest department path (Men / Women / Gear), first listed on a tie; else the first path."""
    shop = [p for p in paths if p[0] in SHOP_ROOTS]
    if shop:
        return max(shop, key=len)  # max keeps the first of equal lengths
    return paths[0] if paths else None


class MagentoReader:
    """Reads the fixture files into validated ProductData and link rows; writes nothing."""

    def __init__(self, fixtures: Path, media: Path, report: ImportReport, media_roots: tuple[Path, ...] = (),
                 max_price: float = math.inf):
        self.fixtures, self.media, self.report = fixtures, media, report
        self.max_price = max_price
        # where a photo may resolve to (engine.catalog.media.media_roots); empty: the media folder alone
        self.media_roots = media_roots or (media.resolve(),)
        self.roots: set[str] = set(SHOP_ROOTS)
        self.seen: dict[str, str] = {}  # sku -> "file:line" of its first definition
        self.photos: dict[str, str | None] = {}  # photo cell -> absolute path (None: missing), warned once

    def rel(self, path: Path) -> str:
        return path.relative_to(self.fixtures).as_posix()

    def csv(self, rel: str, required: tuple[str, ...]) -> list[CsvRecord]:
        path = self.fixtures / rel
        self.report.files.append(rel)
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                _, records = read_csv(f, rel, self.report.rejected, required=required)
                return list(records)
        except ValidationError as e:
            self.report.rejected.append(RowError(rel, 1, str(e)))
            return []
        except UnicodeDecodeError as e:
            self.report.rejected.append(RowError(rel, 1, f"not UTF-8 text: {e}"))
            return []

    def reject(self, rel: str, line: int, message: str) -> None:
        self.report.rejected.append(RowError(rel, line, message))

    def claim(self, sku: str, rel: str, line: int) -> bool:
        """False (and a RowError) when an earlier record already defined this sku."""
        if sku in self.seen:
            self.reject(rel, line, f"sku {sku} is defined twice (first at {self.seen[sku]}): the repeat is skipped")
            return False
        self.seen[sku] = f"{rel}:{line}"
        return True

    def image(self, value: str, rel: str, line: int) -> str | None:
        """The real path of a photo cell, or None with a warning (once per cell) when it is missing or
        leads out of the media roots (`../` chains, a link pointing out) or to anything but a regular file."""
        value = value.strip()
        if not value:
            return None
        if value not in self.photos:
            real = confinement(str(self.media / value.lstrip("/")), self.media_roots)
            self.photos[value] = str(real) if isinstance(real, Path) else None
            if real == "not found":
                self.report.warnings.append(f"{rel}:{line}: photo {value} not found under {self.media}, skipped")
            elif isinstance(real, str):
                self.report.warnings.append(f"{rel}:{line}: photo {value} {real}; not stored")
        return self.photos[value]

    # ---- categories --------------------------------------------------------------------------------
    def categories(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for path in sorted(self.fixtures.glob("*/categories.csv")):
            for r in self.csv(self.rel(path), required=("name", "path")):
                name, parent = r.values["name"].strip(), r.values["path"].strip()
                if not name:
                    self.reject(self.rel(path), r.line, "category without a name")
                    continue
                parts = tuple(p.strip() for p in parent.split("/") if p.strip()) + (name,)
                if len(parts) == 1:
                    self.roots.add(name)
                if parts not in out:
                    out.append(parts)
        return out

    def name_chain(self, value: str) -> list[tuple[str, ...]]:
        """Paths of a gear `category` cell: names one per line, a top-level name starting a new path
        ("Gear\\nBags\\nCollections\\nErin Recommends" is Gear/Bags and Collections/Erin Recommends)."""
        paths: list[list[str]] = []
        for name in (n.strip() for n in (value or "").splitlines()):
            if not name:
                continue
            if name in self.roots or not paths:
                paths.append([name])
            else:
                paths[-1].append(name)
        return [tuple(p) for p in paths]

    # ---- apparel -----------------------------------------------------------------------------------
    def apparel(self) -> list[ProductData]:
        rel = APPAREL_FILE
        if not (self.fixtures / rel).is_file():
            self.report.warnings.append(f"{rel} not found: no configurable apparel imported")
            return []
        records = self.csv(rel, required=("sku", "product_type", "name", "price"))
        styles: dict[str, CsvRecord] = {}
        variant_of: dict[str, str] = {}
        simples: list[CsvRecord] = []
        for r in records:
            v = r.values
            sku, kind = v["sku"].strip(), v["product_type"].strip()
            if not sku:
                self.reject(rel, r.line, "missing sku")
            elif kind == "configurable":
                if not v["name"].strip():
                    self.reject(rel, r.line, f"style {sku} has no name")
                    continue
                styles[sku] = r
                for part in v.get("configurable_variations", "").split("|"):
                    if (variant := parse_additional(part).get("sku")):
                        variant_of[variant.strip()] = sku
            elif kind == "simple":
                simples.append(r)
            else:
                self.report.warnings.append(f"{rel}:{r.line}: {kind or 'untyped'} product {sku} skipped")

        groups: dict[tuple[str, str], list[tuple[CsvRecord, dict, float, int]]] = defaultdict(list)
        out: list[ProductData] = []
        for r in simples:
            v = r.values
            sku = v["sku"].strip()
            attrs = parse_additional(v.get("additional_attributes", ""))
            try:
                price = parse_number(v["price"], "price", maximum=self.max_price)
                qty = parse_count(v.get("qty") or 0, "qty")
            except ValueError as e:
                self.reject(rel, r.line, f"{sku}: {e}")
                continue
            style = variant_of.get(sku)
            if style is None:
                if v.get("visibility", "").strip() == "Not Visible Individually":
                    self.report.warnings.append(f"{rel}:{r.line}: {sku} is a variant of no style and not "
                                                "visible on its own: skipped")
                elif self.claim(sku, rel, r.line):
                    out.append(self.simple_item(rel, r, price, qty, attrs))
                continue
            colour = attrs.get("color", "").strip()
            if not colour:
                self.reject(rel, r.line, f"variant {sku} of {style} has no color")
                continue
            groups[(style, colour)].append((r, attrs, price, qty))

        for (style, colour), variants in groups.items():
            first = variants[0][0]
            sku = f"{style}-{colour}"
            if not self.claim(sku, rel, first.line):
                continue
            sv = styles[style].values
            style_attrs = parse_additional(sv.get("additional_attributes", ""))
            attributes: dict = {k: _attr_value(val, "|") for k, val in style_attrs.items()
                                if k not in NOT_ATTRIBUTES and val.strip()}
            sizes = list(dict.fromkeys(a.get("size", "").strip() for _, a, _, _ in variants if a.get("size")))
            attributes.update({"color": colour, "sizes": sizes, "attribute_set": sv.get("attribute_set_code", "")})
            if sv.get("special_price", "").strip():
                attributes["special_price"] = sv["special_price"].strip()
            photos: list[str] = []
            main: str | None = None
            for r, _, _, _ in variants:
                base = self.image(r.values.get("base_image", ""), rel, r.line)
                main = main or base
                extra = [self.image(x, rel, r.line) for x in r.values.get("additional_images", "").split(",")]
                photos += [p for p in [base, *extra] if p and p not in photos]
            paths = category_paths(sv.get("categories", "")) or category_paths(first.values.get("categories", ""))
            out.append(ProductData(
                sku=sku, title=sv["name"].strip(), price=variants[0][2],
                description=html_to_text(sv.get("description") or first.values.get("description", "")),
                stock_qty=sum(q for _, _, _, q in variants), colour=normalise_colour(colour),
                is_active=sv.get("product_online", "1").strip() != "0", group_key=style, language="en",
                category=primary_category(paths), categories=paths, attributes=attributes,
                images=image_roles(photos, main), file=rel, line=first.line))
        return out

    def simple_item(self, rel: str, r: CsvRecord, price: float, qty: int, attrs: dict) -> ProductData:
        """A visible simple product outside any style: sold as it is."""
        v = r.values
        sku = v["sku"].strip()
        paths = category_paths(v.get("categories", ""))
        base = self.image(v.get("base_image", ""), rel, r.line)
        photos = [base] + [self.image(x, rel, r.line) for x in v.get("additional_images", "").split(",")]
        colour = normalise_colour(attrs.get("color", "")) or detect_colour(v["name"], v.get("description", ""))
        return ProductData(
            sku=sku, title=v["name"].strip(), price=price, description=html_to_text(v.get("description", "")),
            stock_qty=qty, colour=colour, is_active=v.get("product_online", "1").strip() != "0", group_key=sku,
            language="en", category=primary_category(paths), categories=paths,
            attributes={k: _attr_value(x, "|") for k, x in attrs.items() if k not in NOT_ATTRIBUTES and x.strip()},
            images=image_roles([p for p in photos if p], base), file=rel, line=r.line)

    # ---- gear --------------------------------------------------------------------------------------
    def gear(self) -> list[tuple[str, list[ProductData]]]:
        photos: dict[str, list[str]] = defaultdict(list)
        photo_refs: list[tuple[str, int, str]] = []
        for path in sorted(self.fixtures.glob(GEAR_IMAGES)):
            rel = self.rel(path)
            for r in self.csv(rel, required=("sku", "image")):
                sku = r.values["sku"].strip()
                if (img := self.image(r.values["image"], rel, r.line)) and img not in photos[sku]:
                    photos[sku].append(img)
                photo_refs.append((rel, r.line, sku))
        batches: list[tuple[str, list[ProductData]]] = []
        for path in sorted(self.fixtures.glob(GEAR_PRODUCTS)):
            rel = self.rel(path)
            items: list[ProductData] = []
            for r in self.csv(rel, required=("sku", "name", "price")):
                if (d := self.gear_item(rel, r, photos)) is not None:
                    items.append(d)
            batches.append((rel, items))
        known = {d.sku for _, items in batches for d in items}
        for rel, line, sku in photo_refs:
            if sku not in known:
                self.report.warnings.append(f"{rel}:{line}: photo for {sku}, which is not imported")
        return batches

    def gear_item(self, rel: str, r: CsvRecord, photos: dict[str, list[str]]) -> ProductData | None:
        v = r.values
        sku, title = v["sku"].strip(), html_to_text(v["name"])
        if not sku:
            self.reject(rel, r.line, "missing sku")
            return None
        if not title:
            self.reject(rel, r.line, f"{sku}: missing name")
            return None
        try:
            price = parse_number(v["price"], "price", maximum=self.max_price)
            qty = parse_count(v.get("qty") or 0, "qty")
        except ValueError as e:
            self.reject(rel, r.line, f"{sku}: {e}")
            return None
        if not self.claim(sku, rel, r.line):
            return None
        paths = self.name_chain(v.get("category", ""))
        description = html_to_text(v.get("description", ""))
        images = image_roles(photos.get(sku, []))
        colour_raw = (v.get("color") or "").strip()
        colour = normalise_colour(colour_raw) if colour_raw else None
        if colour is None and images:
            colour = next((c for tok in re.split(r"[-_.]", Path(images[0][0]).stem.lower())
                           if (c := PHOTO_COLOUR_CODES.get(tok) or normalise_colour(tok))), None)
        colour = colour or detect_colour(title, description)
        group = sku
        if colour_raw and "-" in sku and normalise_colour(sku.rsplit("-", 1)[1]):
            group = sku.rsplit("-", 1)[0]  # "24-WG081-gray": one ball style sold in three colours
        attributes = {k: _attr_value(x, "\n") for k, x in v.items()
                      if k not in GEAR_COLUMNS_USED and x and x.strip()}
        return ProductData(sku=sku, title=title, price=price, description=description, stock_qty=qty,
                           colour=colour, is_active=True, group_key=group, language="en",
                           category=primary_category(paths), categories=paths, attributes=attributes,
                           images=images, file=rel, line=r.line)

    # ---- skipped and links -------------------------------------------------------------------------
    def skipped_modules(self) -> None:
        for module, kind in SKIPPED_MODULES.items():
            for path in sorted((self.fixtures / module).glob("*.csv")):
                if path.name.startswith("images_"):
                    continue
                rel = self.rel(path)
                try:
                    with open(path, encoding="utf-8-sig", newline="") as f:
                        _, records = read_csv(f, rel, [], required=("sku",))
                        skus = [r.values["sku"].strip() for r in records]
                except (ValidationError, UnicodeDecodeError):
                    continue
                if skus:
                    self.report.warnings.append(f"{rel}: {len(skus)} {kind} product(s) skipped "
                                                f"({', '.join(skus)}): a {kind} is a set of other products")

    def links(self) -> list[LinkRow]:
        rows: list[LinkRow] = []
        files = sorted({p for pattern in LINK_FILES for p in self.fixtures.glob(pattern)})
        for path in files:
            rel, kind = self.rel(path), path.stem.lower()
            if kind not in LINK_KINDS:
                self.report.warnings.append(f"{rel}: unknown link kind {kind!r} (expected one of "
                                            f"{', '.join(LINK_KINDS)}), file skipped")
                continue
            for r in self.csv(rel, required=("sku", "linked_sku")):
                source = r.values["sku"].strip()
                targets = [t.strip() for t in re.split(r"[\n,]", r.values["linked_sku"]) if t.strip()]
                if not source:
                    self.reject(rel, r.line, "link without a source sku")
                    continue
                rows.append(LinkRow(rel, r.line, kind, source, targets))
        return rows
