"""The SQL catalog: schema, sessions, importers, colour lexicon and the read API. The names load on first use
(engine/lazy.py): the importers bring httpx and PIL, which a command reading the catalog never needs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.catalog import configs, jobs  # noqa: F401  (register their tables on Base before any create_all)
from engine.lazy import lazy_exports

if TYPE_CHECKING:
    from engine.catalog.colours import detect_colour, normalise_colour
    from engine.catalog.db import Database
    from engine.catalog.importers import ImportReport, RowError, import_generic, import_magento
    from engine.catalog.models import Brand, Category, Product, ProductCategory, ProductImage, ProductLink
    from engine.catalog.queries import Catalog, CatalogStats, CategoryNode, ProductPage

_EXPORTS = {
    **dict.fromkeys(["detect_colour", "normalise_colour"], "engine.catalog.colours"),
    "Database": "engine.catalog.db",
    **dict.fromkeys(["ImportReport", "RowError", "import_generic", "import_magento"], "engine.catalog.importers"),
    **dict.fromkeys(["Brand", "Category", "Product", "ProductCategory", "ProductImage", "ProductLink"],
                    "engine.catalog.models"),
    **dict.fromkeys(["Catalog", "CatalogStats", "CategoryNode", "ProductPage"], "engine.catalog.queries"),
}

__all__ = [
    "Brand", "Catalog", "CatalogStats", "Category", "CategoryNode", "Database", "ImportReport", "Product",
    "ProductCategory", "ProductImage", "ProductLink", "ProductPage", "RowError", "detect_colour",
    "import_generic", "import_magento", "normalise_colour",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
