"""Catalog importers: each reads one source format, validates every record and upserts by natural key."""
from .common import ImportReport, ProductData, RowError
from .generic import import_generic
from .magento import import_magento

__all__ = ["ImportReport", "ProductData", "RowError", "import_generic", "import_magento"]
