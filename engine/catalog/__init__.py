"""The SQL catalog: schema, sessions, importers, colour lexicon and the read API."""
from engine.catalog import configs, jobs  # noqa: F401  (register their tables on Base before any create_all)
from engine.catalog.colours import detect_colour, normalise_colour
from engine.catalog.db import Database
from engine.catalog.importers import ImportReport, RowError, import_generic, import_magento
from engine.catalog.models import Brand, Category, Product, ProductCategory, ProductImage, ProductLink
from engine.catalog.queries import Catalog, CatalogStats, CategoryNode, ProductPage

__all__ = [
    "Brand", "Catalog", "CatalogStats", "Category", "CategoryNode", "Database", "ImportReport", "Product",
    "ProductCategory", "ProductImage", "ProductLink", "ProductPage", "RowError", "detect_colour",
    "import_generic", "import_magento", "normalise_colour",
]
