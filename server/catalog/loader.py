"""Loads and validates the error catalog, a human-editable TOML file.

The catalog is data, not code: operators and support engineers edit
`server/catalog/catalog.toml` (or an overlay file) and the server refuses to start on
a mistake, naming the entry and its line, rather than serving wrong answers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from server.catalog.model import (
    Catalog,
    CatalogError,
    CategoryDef,
    Entry,
    Family,
)
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

EMBEDDED_CATALOG = Path(__file__).with_name("catalog.toml")
"""The catalog shipped with the server, served when no other path is given."""

_RANGE = re.compile(r"^\s*(\d+)\s*[–-]\s*(\d+)\s*$")
_MAX_RANGE = 10_000
_ERROR_KEYS_REQUIRED = (
    "category",
    "source",
    "reason",
    "description",
    "recommended_action",
    "retry_strategy",
    "actor",
)
_ERROR_KEYS_OPTIONAL = (
    "code",
    "range",
    "additional_listing",
    "retry_after_seconds",
    "recommended_action_language",
    "recommended_action_en",
)
_FAMILY_KEYS_REQUIRED = ("first", "last", "name", "category", "retry_strategy", "actor")
_FAMILY_KEYS_OPTIONAL = ("retry_after_seconds",)
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
    version = str(base.get("version", "")).strip()
    if not version:
        raise CatalogError(f'{base_path}:1: the catalog has no `version = "..."` line')
    categories = _categories(base, str(base_path), base_text)
    entries = _entries(base, str(base_path), base_text, default_source=None)
    families = _families(base, str(base_path), base_text)
    http_statuses = _http_statuses(base, str(base_path))
    if overlay is not None:
        overlay_path = Path(overlay)
        overlay_text = _read(overlay_path)
        layer = _parse(overlay_text, str(overlay_path))
        digest.update(overlay_text.encode("utf-8"))
        extra = _entries(layer, str(overlay_path), overlay_text, default_source=pb.SOURCE_OVERLAY)
        entries = _apply_overlay(entries, extra)
        families = families + _families(layer, str(overlay_path), overlay_text)
        http_statuses = {**http_statuses, **_http_statuses(layer, str(overlay_path))}
        version = f"{version}+{str(layer.get('version', 'overlay')).strip()}"
    catalog = Catalog(
        version=f"{version}-{digest.hexdigest()[:12]}",
        categories=categories,
        entries=entries,
        families=families,
        http_statuses=http_statuses,
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


def _header_lines(text: str, table: str) -> list[int]:
    """Line numbers (1-based) of each `[[table]]` header, in order."""
    header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), start=1) if header.match(line)]


def _tables(
    doc: dict[str, Any], key: str, where: str, text: str
) -> list[tuple[int, dict[str, Any]]]:
    raw = doc.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise CatalogError(f"{where}: `{key}` must be written as [[{key}]] tables")
    lines = _header_lines(text, key)
    if len(lines) != len(raw):  # inline-table syntax: fall back to no line numbers
        lines = [0] * len(raw)
    return list(zip(lines, raw, strict=True))


def _enum(enum: Any, prefix: str, value: Any, what: str, fail: Any) -> Any:
    if not isinstance(value, str):
        fail(f"`{what}` must be a string such as {enum.keys()[1].removeprefix(prefix)!r}")
    name = prefix + value.strip().upper()
    allowed = [key.removeprefix(prefix) for key in enum.keys()[1:]]
    if name not in enum.keys() or name == prefix + "UNSPECIFIED":  # noqa: SIM118 (enum wrapper)
        fail(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return enum.Value(name)


def _int(value: Any, what: str, fail: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(f"`{what}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _text(value: Any, what: str, fail: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        fail(f"`{what}` must be a string, got {value!r}")
    if not allow_empty and not value.strip():
        fail(f"`{what}` must not be empty")
    return str(value)


def _failer(where: str, line: int, label: str) -> Any:
    def fail(problem: str) -> None:
        raise CatalogError(f"{where}:{line}: {label}: {problem}")

    return fail


def _check_keys(
    raw: dict[str, Any], required: Iterable[str], optional: Iterable[str], fail: Any
) -> None:
    known = set(required) | set(optional)
    unknown = sorted(set(raw) - known)
    if unknown:
        fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    missing = [key for key in required if key not in raw]
    if missing:
        fail(f"missing field(s) {', '.join(missing)}")


def _categories(doc: dict[str, Any], where: str, text: str) -> tuple[CategoryDef, ...]:
    result: list[CategoryDef] = []
    seen: set[int] = set()
    for index, (line, raw) in enumerate(_tables(doc, "categories", where, text), start=1):
        fail = _failer(where, line, f"category #{index} ({raw.get('id', '?')})")
        _check_keys(raw, _CATEGORY_KEYS, (), fail)
        category = _enum(pb.Category, "CATEGORY_", raw["id"], "category", fail)
        if category in seen:
            fail("the category is defined twice")
        seen.add(category)
        result.append(
            CategoryDef(
                category,
                _text(raw["display_name"], "display_name", fail),
                _text(raw["description"], "description", fail),
            )
        )
    return tuple(result)


def _codes(raw: dict[str, Any], fail: Any) -> tuple[list[int], str]:
    if ("code" in raw) == ("range" in raw):
        fail('give exactly one of `code = N` or `range = "FIRST–LAST"`')
    if "code" in raw:
        return [_int(raw["code"], "code", fail)], ""
    written = _text(raw["range"], "range", fail)
    match = _RANGE.match(written)
    if not match:
        fail(f'`range` must look like "115001–115005", got {written!r}')
    assert match is not None
    first, last = int(match.group(1)), int(match.group(2))
    if last < first or last - first >= _MAX_RANGE:
        fail(f"`range` {written!r} must go up and span at most {_MAX_RANGE} codes")
    return list(range(first, last + 1)), written


def _entries(
    doc: dict[str, Any], where: str, text: str, default_source: pb.Source.ValueType | None
) -> tuple[Entry, ...]:
    result: list[Entry] = []
    first_line: dict[int, tuple[int, int]] = {}  # code -> (line, category)
    for index, (line, raw) in enumerate(_tables(doc, "errors", where, text), start=1):
        label = f"error #{index} (code {raw.get('code', raw.get('range', '?'))})"
        fail = _failer(where, line, label)
        required = [k for k in _ERROR_KEYS_REQUIRED if not (k == "source" and default_source)]
        _check_keys(raw, required, (*_ERROR_KEYS_OPTIONAL, "source"), fail)
        codes, written_range = _codes(raw, fail)
        category = _enum(pb.Category, "CATEGORY_", raw["category"], "category", fail)
        if category == pb.CATEGORY_UNKNOWN:
            fail("UNKNOWN is for unmatched codes; file the code under a real category")
        source = (
            _enum(pb.Source, "SOURCE_", raw["source"], "source", fail)
            if "source" in raw
            else (default_source or pb.SOURCE_UNSPECIFIED)
        )
        strategy = _enum(
            pb.RetryStrategy, "RETRY_STRATEGY_", raw["retry_strategy"], "retry_strategy", fail
        )
        actor = _enum(pb.Actor, "ACTOR_", raw["actor"], "actor", fail)
        retry_after = _int(raw.get("retry_after_seconds", 0), "retry_after_seconds", fail)
        if strategy == pb.RETRY_STRATEGY_RETRY_AFTER and retry_after == 0:
            fail("retry_strategy RETRY_AFTER needs `retry_after_seconds`")
        additional = raw.get("additional_listing", False)
        if not isinstance(additional, bool):
            fail("`additional_listing` must be true or false")
        language = _text(
            raw.get("recommended_action_language", "en"), "recommended_action_language", fail
        )
        translations: tuple[tuple[str, str], ...] = ()
        if "recommended_action_en" in raw:
            translations = (
                ("en", _text(raw["recommended_action_en"], "recommended_action_en", fail)),
            )
        elif language != "en":
            fail("an action not written in English needs `recommended_action_en`")
        for code in codes:
            previous = first_line.get(code)
            if previous is not None:
                if not additional:
                    fail(
                        f"code {code} is already listed at line {previous[0]}; a second listing "
                        "under another category needs `additional_listing = true`"
                    )
                if previous[1] == category:
                    fail(
                        f"code {code} is listed twice under the same category (line {previous[0]})"
                    )
            elif additional:
                fail(f"`additional_listing = true` but code {code} has no earlier listing")
            else:
                first_line[code] = (line, category)
            result.append(
                Entry(
                    code=code,
                    category=category,
                    reason=_text(raw["reason"], "reason", fail),
                    description=_text(raw["description"], "description", fail),
                    recommended_action=_text(
                        raw["recommended_action"], "recommended_action", fail, allow_empty=True
                    ),
                    source=source,
                    retry_strategy=strategy,
                    actor=actor,
                    retry_after_seconds=retry_after,
                    recommended_action_language=language,
                    translations=translations,
                    document_range=written_range,
                    additional_listing=additional,
                    line=line,
                )
            )
    return tuple(result)


def _families(doc: dict[str, Any], where: str, text: str) -> tuple[Family, ...]:
    result: list[Family] = []
    for index, (line, raw) in enumerate(_tables(doc, "families", where, text), start=1):
        fail = _failer(where, line, f"family #{index} ({raw.get('name', '?')})")
        _check_keys(raw, _FAMILY_KEYS_REQUIRED, _FAMILY_KEYS_OPTIONAL, fail)
        first, last = _int(raw["first"], "first", fail), _int(raw["last"], "last", fail)
        if last < first:
            fail(f"`last` ({last}) is below `first` ({first})")
        strategy = _enum(
            pb.RetryStrategy, "RETRY_STRATEGY_", raw["retry_strategy"], "retry_strategy", fail
        )
        retry_after = _int(raw.get("retry_after_seconds", 0), "retry_after_seconds", fail)
        if strategy == pb.RETRY_STRATEGY_RETRY_AFTER and retry_after == 0:
            fail("retry_strategy RETRY_AFTER needs `retry_after_seconds`")
        result.append(
            Family(
                first=first,
                last=last,
                name=_text(raw["name"], "name", fail),
                category=_enum(pb.Category, "CATEGORY_", raw["category"], "category", fail),
                retry_strategy=strategy,
                actor=_enum(pb.Actor, "ACTOR_", raw["actor"], "actor", fail),
                retry_after_seconds=retry_after,
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
