"""The catalog: the TOML data, its validation, and the ErrorInfo messages built from it."""

from server.catalog.loader import EMBEDDED_CATALOG, load_catalog
from server.catalog.model import (
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
