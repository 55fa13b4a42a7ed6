"""Loads and validates the error catalog, a human-editable TOML file.

The catalog is data, not code: operators and support engineers edit
`server/catalog/catalog.toml` (or an overlay file) and the server refuses to start on
a mistake, naming the entry and its line, rather than serving wrong answers.
"""

from __future__ import annotations

import hashlib
import logging
import time
import tomllib
from pathlib import Path
from typing import Any

from whatsapp_errors.server.catalog import bsp_table
from whatsapp_errors.server.catalog.entries import (
    provenance_defaults,
    read_errors,
    read_families,
    read_pairs,
)
from whatsapp_errors.server.catalog.fields import check_keys, enum_value, failer, tables, text_value
from whatsapp_errors.server.catalog.model import (
    Catalog,
    CatalogError,
    CategoryDef,
    Entry,
)
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

EMBEDDED_CATALOG = Path(__file__).with_name("catalog.toml")
"""The catalog shipped with the server, served when no other path is given."""

_CATEGORY_KEYS = ("id", "display_name", "description")


def load_catalog(path: Path | str = EMBEDDED_CATALOG, overlay: Path | str | None = None) -> Catalog:
    """Reads, validates and indexes a catalog file, optionally with an overlay on top.

    Raises CatalogError naming the file, line and entry of the first problem.
    """
    started = time.perf_counter()
    base_path = Path(path)
    base_text = _read(base_path)
    base = _parse(base_text, str(base_path))
    digest = hashlib.sha256(base_text.encode("utf-8"))
    # The BSP table decides answers too, so a change to it must change catalog_version.
    digest.update(_read(bsp_table.EMBEDDED_BSP_TABLE).encode("utf-8"))
    version = str(base.get("version", "")).strip()
    if not version:
        raise CatalogError(f'{base_path}:1: the catalog has no `version = "..."` line')
    categories = _categories(base, str(base_path), base_text)
    defaults = provenance_defaults(base, str(base_path))
    entries = read_errors(base, str(base_path), base_text, None, defaults)
    pairs = read_pairs(base, str(base_path), base_text, defaults)
    families = read_families(base, str(base_path), base_text, defaults)
    http_statuses = _http_statuses(base, str(base_path))
    if overlay is not None:
        overlay_path = Path(overlay)
        overlay_text = _read(overlay_path)
        layer = _parse(overlay_text, str(overlay_path))
        digest.update(overlay_text.encode("utf-8"))
        extra = read_errors(layer, str(overlay_path), overlay_text, pb.SOURCE_OVERLAY, {})
        entries = _apply_overlay(entries, extra)
        pairs = {**pairs, **read_pairs(layer, str(overlay_path), overlay_text, {})}
        families = families + read_families(layer, str(overlay_path), overlay_text, {})
        http_statuses = {**http_statuses, **_http_statuses(layer, str(overlay_path))}
        version = f"{version}+{str(layer.get('version', 'overlay')).strip()}"
    catalog = Catalog(
        version=f"{version}-{digest.hexdigest()[:12]}",
        categories=categories,
        entries=entries,
        families=families,
        http_statuses=http_statuses,
        pairs=pairs,
        path=str(base_path),
    )
    _check_http_targets(catalog, str(base_path))
    catalog.load_seconds = time.perf_counter() - started
    _LOGGER.info(
        "catalog %s loaded: %d codes, %d listings in %.1f ms",
        catalog.version,
        len(catalog.listings),
        len(catalog.entries),
        catalog.load_seconds * 1000,
    )
    return catalog


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: the catalog is not UTF-8 text: {exc}") from exc


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: not valid TOML: {exc}") from exc


def _categories(doc: dict[str, Any], where: str, text: str) -> tuple[CategoryDef, ...]:
    result: list[CategoryDef] = []
    seen: set[int] = set()
    for index, (line, raw) in enumerate(tables(doc, "categories", where, text), start=1):
        fail = failer(where, line, f"category #{index} ({raw.get('id', '?')})")
        check_keys(raw, _CATEGORY_KEYS, (), fail)
        category = enum_value(pb.Category, "CATEGORY_", raw["id"], "category", fail)
        if category in seen:
            fail("the category is defined twice")
        seen.add(category)
        result.append(
            CategoryDef(
                category,
                text_value(raw["display_name"], "display_name", fail),
                text_value(raw["description"], "description", fail),
            )
        )
    return tuple(result)


def _http_statuses(doc: dict[str, Any], where: str) -> dict[int, int]:
    raw = doc.get("http_statuses", {})
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: `[http_statuses]` must be a table of STATUS = CODE")
    result: dict[int, int] = {}
    for status, code in raw.items():
        if not status.isdigit() or not 100 <= int(status) <= 599:
            raise CatalogError(f"{where}: [http_statuses] key {status!r} is not an HTTP status")
        if isinstance(code, bool) or not isinstance(code, int) or code < 0:
            raise CatalogError(
                f"{where}: [http_statuses] {status} must map to a code, got {code!r}"
            )
        result[int(status)] = code
    return result


def _apply_overlay(base: tuple[Entry, ...], extra: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """Overlay entries replace every base listing of their code; new codes append."""
    replaced = {entry.code for entry in extra}
    return tuple(entry for entry in base if entry.code not in replaced) + extra


def _check_http_targets(catalog: Catalog, where: str) -> None:
    for status, code in catalog.http_statuses.items():
        if code not in catalog.listings:
            raise CatalogError(
                f"{where}: [http_statuses] {status} maps to code {code}, which no entry lists"
            )
