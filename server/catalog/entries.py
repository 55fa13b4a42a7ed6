"""The catalog's [[errors]], [[pairs]] and [[families]] tables, read into entries.

Each entry carries its decision and its provenance: the page it comes from,
when it was checked, and one sentence on what the decision rests on. A
`[defaults.SOURCE]` table gives provenance to every entry of that source
that states none (the provider's document names itself once).

A `range` entry lists every code of the range, except codes that have an
entry of their own: Meta documents 200–299 as one row and 200 as another.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from whatsapp_errors.server.catalog.fields import (
    check_keys,
    enum_value,
    failer,
    int_value,
    tables,
    text_value,
)
from whatsapp_errors.server.catalog.model import Entry, Family, Rule
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_RANGE = re.compile(r"^\s*(\d+)\s*[–-]\s*(\d+)\s*$")
_MAX_RANGE = 10_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RULE_PATTERN = re.compile(r"^[\w .,:;'/%#()-]+(\|[\w .,:;'/%#()-]+)*$")
"""Rule patterns are alternations of literal words and punctuation: linear to match."""
_DECISION = ("retry_strategy", "actor")
_PROVENANCE = ("doc_url", "checked", "decision_basis")
_ERROR_KEYS_REQUIRED = (
    "category",
    "source",
    "reason",
    "description",
    "recommended_action",
    *_DECISION,
)
_ERROR_KEYS_OPTIONAL = (
    "code",
    "range",
    "additional_listing",
    "retry_after_seconds",
    "recommended_action_language",
    "recommended_action_en",
    *_PROVENANCE,
    "retired",
    "http_status",
    "retry_budget",
    "wait_from_details",
    "rules",
)
_PAIR_KEYS_REQUIRED = ("code", "subcode", *(k for k in _ERROR_KEYS_REQUIRED))
_PAIR_KEYS_OPTIONAL = tuple(k for k in _ERROR_KEYS_OPTIONAL if k not in ("code", "range"))
_RULE_KEYS_REQUIRED = ("name", "details_pattern", *_DECISION, "decision_basis")
_RULE_KEYS_OPTIONAL = ("retry_after_seconds", "retry_budget")
_FAMILY_KEYS_REQUIRED = ("first", "last", "name", "category", *_DECISION)
_FAMILY_KEYS_OPTIONAL = ("retry_after_seconds", *_PROVENANCE)


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
        check_keys(table, (), _PROVENANCE, fail)
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
        codes, written_range = _codes(raw, fail)
        fields = _entry_fields(raw, line, fail, default_source, defaults)
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
        fields = _entry_fields(raw, line, fail, None, defaults)
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
        strategy, actor, retry_after = _decision(raw, fail)
        doc_url, checked_on, basis = _provenance({**provenance, **raw}, fail)
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


def _entry_fields(
    raw: dict[str, Any],
    line: int,
    fail: Any,
    default_source: pb.Source.ValueType | None,
    defaults: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """Everything of an entry but its code: decision, texts, provenance."""
    category = enum_value(pb.Category, "CATEGORY_", raw["category"], "category", fail)
    if category == pb.CATEGORY_UNKNOWN:
        fail("UNKNOWN is for unmatched codes; file the code under a real category")
    source = (
        enum_value(pb.Source, "SOURCE_", raw["source"], "source", fail)
        if "source" in raw
        else (default_source or pb.SOURCE_UNSPECIFIED)
    )
    strategy, actor, retry_after = _decision(raw, fail)
    additional = _flag(raw, "additional_listing", fail)
    language = text_value(
        raw.get("recommended_action_language", "en"), "recommended_action_language", fail
    )
    translations: tuple[tuple[str, str], ...] = ()
    if "recommended_action_en" in raw:
        translations = (
            ("en", text_value(raw["recommended_action_en"], "recommended_action_en", fail)),
        )
    elif language != "en":
        fail("an action not written in English needs `recommended_action_en`")
    doc_url, checked_on, basis = _provenance({**defaults.get(source, {}), **raw}, fail)
    http_status = int_value(raw.get("http_status", 0), "http_status", fail)
    if http_status and not 100 <= http_status <= 599:
        fail(f"`http_status` {http_status} is not an HTTP status")
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list) or not all(isinstance(r, dict) for r in rules_raw):
        fail("`rules` must be written as [[errors.rules]] tables")
    return {
        "category": category,
        "reason": text_value(raw["reason"], "reason", fail),
        "description": text_value(raw["description"], "description", fail),
        "recommended_action": text_value(
            raw["recommended_action"], "recommended_action", fail, allow_empty=True
        ),
        "source": source,
        "retry_strategy": strategy,
        "actor": actor,
        "retry_after_seconds": retry_after,
        "recommended_action_language": language,
        "translations": translations,
        "additional_listing": additional,
        "line": line,
        "doc_url": doc_url,
        "checked_on": checked_on,
        "decision_basis": basis,
        "retired": _flag(raw, "retired", fail),
        "http_status": http_status,
        "retry_budget": int_value(raw.get("retry_budget", 0), "retry_budget", fail),
        "wait_from_details": _flag(raw, "wait_from_details", fail),
        "rules": tuple(_rule(rule, fail) for rule in rules_raw),
    }


def _rule(raw: dict[str, Any], fail: Any) -> Rule:
    check_keys(raw, _RULE_KEYS_REQUIRED, _RULE_KEYS_OPTIONAL, fail)
    written = text_value(raw["details_pattern"], "details_pattern", fail)
    if not _RULE_PATTERN.match(written):
        fail(
            f"rule `details_pattern` {written!r} must be literal words separated by `|` "
            "(no regex operators: matching must stay linear)"
        )
    strategy, actor, retry_after = _decision(raw, fail)
    return Rule(
        name=text_value(raw["name"], "name", fail),
        pattern=re.compile("|".join(re.escape(part) for part in written.split("|")), re.I),
        retry_strategy=strategy,
        actor=actor,
        retry_after_seconds=retry_after,
        retry_budget=int_value(raw.get("retry_budget", 0), "retry_budget", fail),
        decision_basis=text_value(raw["decision_basis"], "decision_basis", fail),
    )


def _decision(raw: dict[str, Any], fail: Any) -> tuple[Any, Any, int]:
    strategy = enum_value(
        pb.RetryStrategy, "RETRY_STRATEGY_", raw["retry_strategy"], "retry_strategy", fail
    )
    actor = enum_value(pb.Actor, "ACTOR_", raw["actor"], "actor", fail)
    retry_after = int_value(raw.get("retry_after_seconds", 0), "retry_after_seconds", fail)
    if strategy == pb.RETRY_STRATEGY_RETRY_AFTER and retry_after == 0:
        fail("retry_strategy RETRY_AFTER needs `retry_after_seconds`")
    return strategy, actor, retry_after


def _provenance(raw: dict[str, Any], fail: Any) -> tuple[str, str, str]:
    checked = raw.get("checked", "")
    if isinstance(checked, datetime.date):
        checked = checked.isoformat()
    if checked and not (isinstance(checked, str) and _DATE.match(checked)):
        fail(f"`checked` must be a date written YYYY-MM-DD, got {checked!r}")
    return (
        text_value(raw.get("doc_url", ""), "doc_url", fail, allow_empty=True),
        str(checked),
        text_value(raw.get("decision_basis", ""), "decision_basis", fail, allow_empty=True),
    )


def _flag(raw: dict[str, Any], key: str, fail: Any) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        fail(f"`{key}` must be true or false")
    return bool(value)


def _codes(raw: dict[str, Any], fail: Any) -> tuple[list[int], str]:
    if ("code" in raw) == ("range" in raw):
        fail('give exactly one of `code = N` or `range = "FIRST–LAST"`')
    if "code" in raw:
        return [int_value(raw["code"], "code", fail)], ""
    written = text_value(raw["range"], "range", fail)
    match = _RANGE.match(written)
    if not match:
        fail(f'`range` must look like "115001–115005", got {written!r}')
    assert match is not None
    first, last = int(match.group(1)), int(match.group(2))
    if last < first or last - first >= _MAX_RANGE:
        fail(f"`range` {written!r} must go up and span at most {_MAX_RANGE} codes")
    return list(range(first, last + 1)), written
