"""The BSP code table: a BSP's own error codes, read and validated like the catalog.

`server/catalog/bsp_codes.toml` lists, per BSP envelope (the `shape` names of
server/classify/envelopes.py), the codes that BSP documents and the decision
each one gets; a BSP that sends no code (360dialog) has its documented
messages instead. A mistake refuses the file with its line, as the catalog
does (CatalogError). server/classify/bsp_decisions.py answers from it.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whatsapp_errors.server.catalog.fields import (
    check_keys,
    enum_value,
    failer,
    int_value,
    tables,
    text_value,
)
from whatsapp_errors.server.catalog.model import RETRYABLE_STRATEGIES, CatalogError
from whatsapp_errors.v1 import error_catalog_pb2 as pb

EMBEDDED_BSP_TABLE = Path(__file__).with_name("bsp_codes.toml")
"""The table shipped with the server."""

BSP_NAMES: dict[str, str] = {
    "twilio": "Twilio",
    "gupshup": "Gupshup",
    "infobip": "Infobip",
    "vonage": "Vonage",
    "bird": "Bird (MessageBird)",
    "wati": "Wati",
    "360dialog": "360dialog",
    "ycloud": "YCloud",
}
"""Every BSP envelope shape an entry may name, with the name an answer gives it."""

_REQUIRED = (
    "bsp",
    "meaning",
    "category",
    "retry_strategy",
    "actor",
    "doc_url",
    "checked_on",
)
_OPTIONAL = ("code", "text", "retry_after_seconds", "meta_code", "decision_basis")
_TEXT = re.compile(r"^[\w .,:;'/%#()*-]+(\|[\w .,:;'/%#()*-]+)*$")
"""Texts are alternations of literal words and punctuation: matching stays linear."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_MEANING = 200


@dataclass(frozen=True, slots=True)
class BspEntry:
    """One code (or documented message) of one BSP, with its decision and provenance."""

    bsp: str
    code: int | None
    texts: tuple[str, ...]
    """Lower-case alternatives, any of which in the error's text matches; empty for a code."""
    meaning: str
    category: pb.Category.ValueType
    retry_strategy: pb.RetryStrategy.ValueType
    actor: pb.Actor.ValueType
    retry_after_seconds: int
    meta_code: int | None
    doc_url: str
    checked_on: str
    decision_basis: str
    line: int

    @property
    def label(self) -> str:
        """`Twilio 63016` or `360dialog "exceeded the limit of"`, for messages and answers."""
        name = BSP_NAMES[self.bsp]
        return f"{name} {self.code}" if self.code is not None else f'{name} "{self.texts[0]}"'

    @property
    def retryable(self) -> bool:
        return self.retry_strategy in RETRYABLE_STRATEGIES


@dataclass(frozen=True, slots=True)
class BspTable:
    """Every entry, in file order, with the path it was read from."""

    entries: tuple[BspEntry, ...]
    path: str


def load_bsp_table(path: Path | str = EMBEDDED_BSP_TABLE) -> BspTable:
    """Reads and validates the table; CatalogError names the file, line and entry at fault."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"{where}: cannot read the BSP code table: {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{where}: the BSP code table is not UTF-8 text: {exc}") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"codes"})
    if unknown:
        raise CatalogError(
            f"{where}: unknown top-level key(s) {', '.join(unknown)}; only [[codes]]"
        )
    entries: list[BspEntry] = []
    seen: dict[tuple[str, int | str], int] = {}
    for index, (line, raw) in enumerate(tables(doc, "codes", where, text), start=1):
        label = f"BSP code #{index} ({raw.get('bsp', '?')} {raw.get('code', raw.get('text', '?'))})"
        entry = _entry(raw, line, failer(where, line, label))
        keys: list[tuple[str, int | str]] = (
            [(entry.bsp, entry.code)]
            if entry.code is not None
            else [(entry.bsp, t) for t in entry.texts]
        )
        for key in keys:
            if key in seen:
                failer(where, line, label)(
                    f"{key[0]} {key[1]!r} is already listed at line {seen[key]}"
                )
            seen[key] = line
        entries.append(entry)
    return BspTable(tuple(entries), where)


def _entry(raw: dict[str, Any], line: int, fail: Any) -> BspEntry:
    check_keys(raw, _REQUIRED, _OPTIONAL, fail)
    bsp = text_value(raw["bsp"], "bsp", fail)
    if bsp not in BSP_NAMES:
        fail(f"unknown bsp {bsp!r}; expected one of {', '.join(BSP_NAMES)}")
    if ("code" in raw) == ("text" in raw):
        fail('give exactly one of `code = N` (the BSP\'s own code) or `text = "..."` (its message)')
    code: int | None = None
    texts: tuple[str, ...] = ()
    if "code" in raw:
        code = int_value(raw["code"], "code", fail)
    else:
        written = text_value(raw["text"], "text", fail)
        if not _TEXT.match(written):
            fail(f"`text` {written!r} must be literal words separated by `|` (no regex operators)")
        texts = tuple(part.strip().lower() for part in written.split("|"))
        if any(len(part) < 8 for part in texts):
            fail(
                "each `text` alternative needs at least 8 characters: a short one matches anything"
            )
    meaning = text_value(raw["meaning"], "meaning", fail)
    if "\n" in meaning or len(meaning) > _MAX_MEANING:
        fail(f"`meaning` must be one line of at most {_MAX_MEANING} characters")
    category = enum_value(pb.Category, "CATEGORY_", raw["category"], "category", fail)
    if category == pb.CATEGORY_UNKNOWN:
        fail("UNKNOWN is for unmatched codes; file the code under a real category")
    strategy = enum_value(
        pb.RetryStrategy, "RETRY_STRATEGY_", raw["retry_strategy"], "retry_strategy", fail
    )
    wait = int_value(raw.get("retry_after_seconds", 0), "retry_after_seconds", fail)
    if strategy == pb.RETRY_STRATEGY_RETRY_AFTER and wait == 0:
        fail("retry_strategy RETRY_AFTER needs `retry_after_seconds`")
    if wait and strategy not in RETRYABLE_STRATEGIES:
        fail("`retry_after_seconds` is only for RETRY_AFTER and RETRY_WITH_BACKOFF")
    meta_code = int_value(raw["meta_code"], "meta_code", fail) if "meta_code" in raw else None
    doc_url = text_value(raw["doc_url"], "doc_url", fail)
    if not doc_url.startswith("https://"):
        fail(f"`doc_url` must be the https:// page the entry was read on, got {doc_url!r}")
    checked = raw["checked_on"]
    if isinstance(checked, datetime.date) and not isinstance(checked, datetime.datetime):
        checked = checked.isoformat()
    if not (isinstance(checked, str) and _DATE.match(checked)):
        fail(f"`checked_on` must be a date written YYYY-MM-DD, got {checked!r}")
    return BspEntry(
        bsp=bsp,
        code=code,
        texts=texts,
        meaning=meaning,
        category=category,
        retry_strategy=strategy,
        actor=enum_value(pb.Actor, "ACTOR_", raw["actor"], "actor", fail),
        retry_after_seconds=wait,
        meta_code=meta_code,
        doc_url=doc_url,
        checked_on=str(checked),
        decision_basis=text_value(
            raw.get("decision_basis", ""), "decision_basis", fail, allow_empty=True
        ),
        line=line,
    )
