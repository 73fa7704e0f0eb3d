"""Catalog importers: each reads one source format, validates every record and upserts by natural key."""
from engine.catalog.importers.common import ImportReport, RowError
from engine.catalog.importers.feeds import fetch_feed, import_feed
from engine.catalog.importers.generic import import_generic
from engine.catalog.importers.magento import import_magento
from engine.catalog.importers.writer import ProductData

__all__ = ["ImportReport", "ProductData", "RowError", "fetch_feed", "import_feed", "import_generic", "import_magento"]
