"""The fields of one catalog table, read into the parts of an entry.

server/catalog/entries.py walks the [[errors]], [[pairs]] and [[families]]
tables; each table's fields are read here: its decision (retry strategy,
actor, wait), its provenance (page, date checked, what the decision rests
on), its texts and flags, its [[errors.rules]], and the code or range it
lists. Every check names the table through `fail` (server/catalog/fields.py).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from whatsapp_errors.server.catalog.fields import check_keys, enum_value, int_value, text_value
from whatsapp_errors.server.catalog.model import Rule
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_RANGE = re.compile(r"^\s*(\d+)\s*[–-]\s*(\d+)\s*$")
_MAX_RANGE = 10_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RULE_PATTERN = re.compile(r"^[\w .,:;'/%#()-]+(\|[\w .,:;'/%#()-]+)*$")
"""Rule patterns are alternations of literal words and punctuation: linear to match."""
DECISION_KEYS = ("retry_strategy", "actor")
"""The keys of a decision every table states (a wait, `retry_after_seconds`, is optional)."""
PROVENANCE_KEYS = ("doc_url", "checked", "decision_basis")
"""The keys of provenance: a table's own, or its source's `[defaults.SOURCE]`."""
_RULE_KEYS_REQUIRED = ("name", "details_pattern", *DECISION_KEYS, "decision_basis")
_RULE_KEYS_OPTIONAL = ("retry_after_seconds", "retry_budget")


def read_entry_fields(
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
    strategy, actor, retry_after = read_decision(raw, fail)
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
    doc_url, checked_on, basis = read_provenance({**defaults.get(source, {}), **raw}, fail)
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
    strategy, actor, retry_after = read_decision(raw, fail)
    return Rule(
        name=text_value(raw["name"], "name", fail),
        pattern=re.compile("|".join(re.escape(part) for part in written.split("|")), re.I),
        retry_strategy=strategy,
        actor=actor,
        retry_after_seconds=retry_after,
        retry_budget=int_value(raw.get("retry_budget", 0), "retry_budget", fail),
        decision_basis=text_value(raw["decision_basis"], "decision_basis", fail),
    )


def read_decision(raw: dict[str, Any], fail: Any) -> tuple[Any, Any, int]:
    """(retry strategy, actor, retry_after_seconds); RETRY_AFTER needs its wait."""
    strategy = enum_value(
        pb.RetryStrategy, "RETRY_STRATEGY_", raw["retry_strategy"], "retry_strategy", fail
    )
    actor = enum_value(pb.Actor, "ACTOR_", raw["actor"], "actor", fail)
    retry_after = int_value(raw.get("retry_after_seconds", 0), "retry_after_seconds", fail)
    if strategy == pb.RETRY_STRATEGY_RETRY_AFTER and retry_after == 0:
        fail("retry_strategy RETRY_AFTER needs `retry_after_seconds`")
    return strategy, actor, retry_after


def read_provenance(raw: dict[str, Any], fail: Any) -> tuple[str, str, str]:
    """(doc_url, checked as YYYY-MM-DD, decision_basis), each "" when not given."""
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


def read_codes(raw: dict[str, Any], fail: Any) -> tuple[list[int], str]:
    """The codes an [[errors]] table lists (`code`, or every code of `range`), and the range."""
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
