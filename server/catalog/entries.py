"""The catalog's [[errors]], [[pairs]] and [[families]] tables, read into entries.

Each entry carries its decision and its provenance: the page it comes from,
when it was checked, and one sentence on what the decision rests on. A
`[defaults.SOURCE]` table gives provenance to every entry of that source
that states none (the provider's document names itself once).

A `range` entry lists every code of the range, except codes that have an
entry of their own: Meta documents 200–299 as one row and 200 as another.

This module walks the tables and checks listings against each other (a
code listed twice, a pair listed twice); the fields of each table are read
by server/catalog/entry_fields.py.
"""

from __future__ import annotations

from typing import Any

from whatsapp_errors.server.catalog.entry_fields import (
    DECISION_KEYS,
    PROVENANCE_KEYS,
    read_codes,
    read_decision,
    read_entry_fields,
    read_provenance,
)
from whatsapp_errors.server.catalog.fields import (
    check_keys,
    enum_value,
    failer,
    int_value,
    tables,
    text_value,
)
from whatsapp_errors.server.catalog.model import Entry, Family
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_ERROR_KEYS_REQUIRED = (
    "category",
    "source",
    "reason",
    "description",
    "recommended_action",
    *DECISION_KEYS,
)
_ERROR_KEYS_OPTIONAL = (
    "code",
    "range",
    "additional_listing",
    "retry_after_seconds",
    "recommended_action_language",
    "recommended_action_en",
    *PROVENANCE_KEYS,
    "retired",
    "http_status",
    "retry_budget",
    "wait_from_details",
    "rules",
)
_PAIR_KEYS_REQUIRED = ("code", "subcode", *(k for k in _ERROR_KEYS_REQUIRED))
_PAIR_KEYS_OPTIONAL = tuple(k for k in _ERROR_KEYS_OPTIONAL if k not in ("code", "range"))
_FAMILY_KEYS_REQUIRED = ("first", "last", "name", "category", *DECISION_KEYS)
_FAMILY_KEYS_OPTIONAL = ("retry_after_seconds", *PROVENANCE_KEYS)


def provenance_defaults(doc: dict[str, Any], where: str) -> dict[int, dict[str, Any]]:
    """`[defaults.SOURCE]` tables: provenance for every entry of SOURCE that gives none."""
    raw = doc.get("defaults", {})
    if not isinstance(raw, dict):
        raise_at = failer(where, 0, "[defaults]")
        raise_at("`defaults` must be a table of [defaults.SOURCE] tables")
    result: dict[int, dict[str, Any]] = {}
    for name, table in raw.items():
        fail = failer(where, 0, f"[defaults.{name}]")
        source = enum_value(pb.Source, "SOURCE_", name, "source", fail)
        if not isinstance(table, dict):
            fail("must be a table")
        check_keys(table, (), PROVENANCE_KEYS, fail)
        result[source] = dict(table)
    return result


def read_errors(
    doc: dict[str, Any],
    where: str,
    text: str,
    default_source: pb.Source.ValueType | None,
    defaults: dict[int, dict[str, Any]],
) -> tuple[Entry, ...]:
    """Every listing of the [[errors]] tables, in file order."""
    parsed: list[tuple[list[int], str, dict[str, Any], Any]] = []
    for index, (line, raw) in enumerate(tables(doc, "errors", where, text), start=1):
        fail = failer(
            where, line, f"error #{index} (code {raw.get('code', raw.get('range', '?'))})"
        )
        required = [k for k in _ERROR_KEYS_REQUIRED if not (k == "source" and default_source)]
        check_keys(raw, required, (*_ERROR_KEYS_OPTIONAL, "source"), fail)
        codes, written_range = read_codes(raw, fail)
        fields = read_entry_fields(raw, line, fail, default_source, defaults)
        parsed.append((codes, written_range, fields, fail))
    own = {codes[0] for codes, written, _, _ in parsed if not written}
    result: list[Entry] = []
    first_line: dict[int, tuple[int, int]] = {}  # code -> (line, category)
    for codes, written_range, fields, fail in parsed:
        category, line = fields["category"], fields["line"]
        additional = fields["additional_listing"]
        for code in codes:
            if written_range and code in own:
                continue  # the code's own entry says more than the range's row
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
            result.append(Entry(code=code, document_range=written_range, **fields))
    return tuple(result)


def read_pairs(
    doc: dict[str, Any], where: str, text: str, defaults: dict[int, dict[str, Any]]
) -> dict[tuple[int, int], Entry]:
    """The [[pairs]] tables: entries for a (code, Graph API subcode) pair."""
    result: dict[tuple[int, int], Entry] = {}
    for index, (line, raw) in enumerate(tables(doc, "pairs", where, text), start=1):
        label = f"pair #{index} ({raw.get('code', '?')}/{raw.get('subcode', '?')})"
        fail = failer(where, line, label)
        check_keys(raw, _PAIR_KEYS_REQUIRED, _PAIR_KEYS_OPTIONAL, fail)
        code = int_value(raw["code"], "code", fail)
        subcode = int_value(raw["subcode"], "subcode", fail, minimum=1)
        if (code, subcode) in result:
            fail(f"the pair {code}/{subcode} is listed twice")
        fields = read_entry_fields(raw, line, fail, None, defaults)
        result[(code, subcode)] = Entry(code=code, subcode=subcode, **fields)
    return result


def read_families(
    doc: dict[str, Any], where: str, text: str, defaults: dict[int, dict[str, Any]]
) -> tuple[Family, ...]:
    """The [[families]] tables: a decision for the unlisted codes of a block."""
    result: list[Family] = []
    provenance = defaults.get(pb.SOURCE_META, {})
    for index, (line, raw) in enumerate(tables(doc, "families", where, text), start=1):
        fail = failer(where, line, f"family #{index} ({raw.get('name', '?')})")
        check_keys(raw, _FAMILY_KEYS_REQUIRED, _FAMILY_KEYS_OPTIONAL, fail)
        first, last = int_value(raw["first"], "first", fail), int_value(raw["last"], "last", fail)
        if last < first:
            fail(f"`last` ({last}) is below `first` ({first})")
        strategy, actor, retry_after = read_decision(raw, fail)
        doc_url, checked_on, basis = read_provenance({**provenance, **raw}, fail)
        result.append(
            Family(
                first=first,
                last=last,
                name=text_value(raw["name"], "name", fail),
                category=enum_value(pb.Category, "CATEGORY_", raw["category"], "category", fail),
                retry_strategy=strategy,
                actor=actor,
                retry_after_seconds=retry_after,
                doc_url=doc_url,
                checked_on=checked_on,
                decision_basis=basis,
            )
        )
    return tuple(result)
