"""The catalog: the TOML data, its validation, and the ErrorInfo messages built from it."""

from whatsapp_errors.server.catalog.loader import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.server.catalog.model import (
    RETRYABLE_STRATEGIES,
    Catalog,
    CatalogError,
    CategoryDef,
    Entry,
    Family,
)

__all__ = [
    "EMBEDDED_CATALOG",
    "RETRYABLE_STRATEGIES",
    "Catalog",
    "CatalogError",
    "CategoryDef",
    "Entry",
    "Family",
    "load_catalog",
]
