"""Catalog importers: each reads one source format, validates every record and upserts by natural key. The
names load on first use (engine/lazy.py): feeds bring httpx, which only a feed import needs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_exports

if TYPE_CHECKING:
    from engine.catalog.importers.common import ImportReport, RowError
    from engine.catalog.importers.feeds import fetch_feed, import_feed
    from engine.catalog.importers.generic import import_generic
    from engine.catalog.importers.magento import import_magento
    from engine.catalog.importers.writer import ProductData

_EXPORTS = {"ImportReport": "engine.catalog.importers.common", "RowError": "engine.catalog.importers.common",
            "fetch_feed": "engine.catalog.importers.feeds", "import_feed": "engine.catalog.importers.feeds",
            "import_generic": "engine.catalog.importers.generic", "import_magento": "engine.catalog.importers.magento",
            "ProductData": "engine.catalog.importers.writer"}

__all__ = ["ImportReport", "ProductData", "RowError", "fetch_feed", "import_feed", "import_generic", "import_magento"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
