"""Importer for the Magento 2 sample-data layout (the Luma demo catalog): reads the fixtures with
engine.catalog.importers.magento_reader, writes the products in batches, then makes the stored curated
links equal to the files' (style-to-style links stored product-to-product, every colour to every colour).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlalchemy import delete, func, insert, select

from engine.catalog.db import Database
from engine.catalog.importers.common import LINK_KINDS, ImportReport, Progress, Ticker, Timer
from engine.catalog.importers.magento_reader import APPAREL_FILE, LinkRow, MagentoReader, locate
from engine.catalog.importers.writer import CatalogWriter, ProductData, write_products
from engine.catalog.media import media_roots, record_roots
from engine.catalog.models import Category, Product, ProductImage, ProductLink
from engine.settings import Settings

SOURCE = "magento"
BATCH = 100


def import_magento(db: Database, folder: Path | str, progress: Progress | None = None,
                   settings: Settings | None = None) -> ImportReport:
    """Import (or re-import: idempotent) a Magento sample-data folder: the dataset root holding `fixtures/`
    and `media/catalog/product/`, or the fixtures folder itself. Photos are kept only under that dataset
    root or the media roots of `settings` (read from the environment when not given)."""
    timer = Timer()
    fixtures, media = locate(Path(folder))
    report = ImportReport(SOURCE)
    settings = settings or Settings()
    reader = MagentoReader(fixtures, media, report, media_roots(settings, fixtures.parent), settings.max_price)

    tree_paths = reader.categories()
    batches: list[tuple[str, list[ProductData]]] = [(APPAREL_FILE, reader.apparel())]
    batches += reader.gear()
    reader.skipped_modules()
    links = reader.links()

    ticker = Ticker(progress, sum(len(items) for _, items in batches) + len(links))
    with db.session() as s:
        writer = CatalogWriter(s, SOURCE, report)
        for parts in tree_paths:
            writer.category(parts)
    for _, items in batches:  # transactions of at most BATCH products, never across files
        write_products(db, items, SOURCE, report, ticker, BATCH)
    record_roots(db, [fixtures.parent])  # the console and the API show photos only from recorded folders
    with db.session() as s:
        _write_links(s, links, report, ticker)
    ticker.finish()

    report.stats = _stats(db)
    report.stats["styles_in_files"] = len({d.group_key for _, items in batches for d in items})
    report.stats["products_in_files"] = sum(len(items) for _, items in batches)
    report.seconds = timer.seconds
    report.stats["seconds"] = report.seconds
    return report


def _write_links(s, rows: list[LinkRow], report: ImportReport, ticker: Ticker) -> None:
    """Makes the stored links of every source in the files equal to what the files say (set semantics)."""
    by_sku: dict[str, int] = {}
    by_group: dict[str, list[int]] = defaultdict(list)
    for pid, sku, group in s.execute(select(Product.id, Product.sku, Product.group_key).order_by(Product.id)):
        by_sku[sku] = pid
        if group:
            by_group[group].append(pid)

    def resolve(key: str) -> list[int]:
        return [by_sku[key]] if key in by_sku else by_group.get(key, [])

    desired: set[tuple[int, int, str]] = set()
    covered: set[tuple[int, str]] = set()
    unknown: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        sources = resolve(row.source)
        if not sources:
            unknown[row.file].add(row.source)
        for src in sources:
            covered.add((src, row.kind))
        for target in row.targets:
            dests = resolve(target)
            if not dests:
                unknown[row.file].add(target)
            desired.update((a, b, row.kind) for a in sources for b in dests if a != b)
        ticker.advance()
    for file, skus in unknown.items():
        report.warnings.append(f"{file}: {len(skus)} sku(s) not in the catalog, their links skipped: "
                               f"{', '.join(sorted(skus))}")

    existing: dict[tuple[int, int, str], int] = {
        (a, b, k): lid for lid, a, b, k in s.execute(select(ProductLink.id, ProductLink.product_id,
                                                            ProductLink.linked_id, ProductLink.kind))}
    stale = [lid for key, lid in existing.items() if (key[0], key[2]) in covered and key not in desired]
    fresh = sorted(desired - existing.keys())
    for i in range(0, len(stale), 500):
        s.execute(delete(ProductLink).where(ProductLink.id.in_(stale[i:i + 500])))
    for i in range(0, len(fresh), 2000):
        s.execute(insert(ProductLink), [{"product_id": a, "linked_id": b, "kind": k} for a, b, k in fresh[i:i + 2000]])
    report.links_created += len(fresh)
    report.links_removed += len(stale)


def _stats(db: Database) -> dict[str, float]:
    with db.session() as s:
        mine = select(Product.id).where(Product.source == SOURCE)
        stats: dict[str, float] = {
            "products": s.scalar(select(func.count()).select_from(Product).where(Product.source == SOURCE)) or 0,
            "styles": s.scalar(select(func.count(func.distinct(Product.group_key))).where(Product.source == SOURCE)) or 0,
            "categories": s.scalar(select(func.count()).select_from(Category)) or 0,
            "images": s.scalar(select(func.count()).select_from(ProductImage)
                               .where(ProductImage.product_id.in_(mine))) or 0,
        }
        for kind, n in s.execute(select(ProductLink.kind, func.count()).where(ProductLink.product_id.in_(mine))
                                 .group_by(ProductLink.kind)):
            stats[f"links_{kind}"] = n
        for kind in LINK_KINDS:
            stats.setdefault(f"links_{kind}", 0)
    return stats
