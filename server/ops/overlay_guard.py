"""An overlay must say what it is and hold something, or it is refused.

The base catalog must have a `version` line; an overlay is read the same
way but needs neither a version nor an entry, so an empty file (a ConfigMap
key left empty, `cat new > overlay.toml` caught half-way) loads as a valid
catalog and silently drops every overlay code. This check runs before the
catalog is loaded, at start-up and on every reload, so such a file is
refused like any broken one: the server does not start, or keeps serving
the catalog it has. The messages name the overlay file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from whatsapp_errors.server.catalog import CatalogError

CONTENT_TABLES = ("errors", "pairs", "families", "http_statuses")
"""What an overlay may add; it must add at least one of them."""


def check_overlay(path: Path | None) -> None:
    """CatalogError if the overlay at `path` has no version or no entries; None: no overlay."""
    if path is None:
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # the loader reports unreadable files in its own words
    try:
        layer: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # and invalid TOML, with its line
    version = layer.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CatalogError(
            f'{path}:1: the overlay has no `version = "..."` line; every overlay names its '
            "version (it becomes part of the catalog version)"
        )
    if not any(layer.get(name) for name in CONTENT_TABLES):
        tables = ", ".join(f"[{name}]" for name in CONTENT_TABLES)
        raise CatalogError(
            f"{path}: the overlay holds no entries (none of {tables}); an empty overlay "
            "would drop every overlay code, so it is refused"
        )
