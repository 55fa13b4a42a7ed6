"""Reading one TOML table of the catalog: typed values, or a CatalogError naming its line.

Every check here fails with the file, the line of the table's header and
the entry's label, so an operator's typo is found in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from whatsapp_errors.server.catalog.model import CatalogError


def header_lines(text: str, table: str) -> list[int]:
    """Line numbers (1-based) of each `[[table]]` header, in order."""
    header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), start=1) if header.match(line)]


def tables(
    doc: dict[str, Any], key: str, where: str, text: str
) -> list[tuple[int, dict[str, Any]]]:
    raw = doc.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise CatalogError(f"{where}: `{key}` must be written as [[{key}]] tables")
    lines = header_lines(text, key)
    if len(lines) != len(raw):  # inline-table syntax: fall back to no line numbers
        lines = [0] * len(raw)
    return list(zip(lines, raw, strict=True))


def enum_value(enum: Any, prefix: str, value: Any, what: str, fail: Any) -> Any:
    if not isinstance(value, str):
        fail(f"`{what}` must be a string such as {enum.keys()[1].removeprefix(prefix)!r}")
    name = prefix + value.strip().upper()
    allowed = [key.removeprefix(prefix) for key in enum.keys()[1:]]
    if name not in enum.keys() or name == prefix + "UNSPECIFIED":  # noqa: SIM118 (enum wrapper)
        fail(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return enum.Value(name)


def int_value(value: Any, what: str, fail: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(f"`{what}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def text_value(value: Any, what: str, fail: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        fail(f"`{what}` must be a string, got {value!r}")
    if not allow_empty and not value.strip():
        fail(f"`{what}` must not be empty")
    return str(value)


def failer(where: str, line: int, label: str) -> Any:
    def fail(problem: str) -> None:
        raise CatalogError(f"{where}:{line}: {label}: {problem}")

    return fail


def check_keys(
    raw: dict[str, Any], required: Iterable[str], optional: Iterable[str], fail: Any
) -> None:
    known = set(required) | set(optional)
    unknown = sorted(set(raw) - known)
    if unknown:
        fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    missing = [key for key in required if key not in raw]
    if missing:
        fail(f"missing field(s) {', '.join(missing)}")
