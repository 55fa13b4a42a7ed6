"""How `waerr` prints answers: aligned tables for people, proto3 JSON for programs.

Enum values print without their prefix and in lower case (`CATEGORY_QUOTA`
→ `quota`), the way a person types them back into `--category`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2  # noqa: F401  # registers the status details for JSON

from whatsapp_errors.v1 import error_catalog_pb2 as pb


def enum_label(enum: Any, value: int) -> str:
    """`CATEGORY_RATE_LIMIT` → `rate_limit`; the prefix is the enum's UNSPECIFIED name."""
    name: str = enum.Name(value)
    prefix = enum.Name(0).removesuffix("UNSPECIFIED")
    return name.removeprefix(prefix).lower()


def duration_label(value: timedelta) -> str:
    """A short duration: 5s, 5m, 4h, 1h30m."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return ""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


def what_to_do(info: pb.ErrorInfo) -> str:
    """The retry strategy, with its wait: `retry_after 4h`, `fix_template`."""
    label = enum_label(pb.RetryStrategy, info.retry_strategy)
    if info.HasField("retry_after") and info.retry_strategy in (
        pb.RETRY_STRATEGY_RETRY_AFTER,
        pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF,
    ):
        wait = duration_label(info.retry_after.ToTimedelta())
        return f"{label} {wait}" if wait else label
    return label


def english_action(info: pb.ErrorInfo) -> str:
    """The recommended action, in English when the source wrote it in another language."""
    if info.recommended_action_language_code not in ("", "en"):
        for translation in info.recommended_action_translations:
            if translation.language_code == "en":
                return translation.text
    return info.recommended_action or "—"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns two spaces apart; the last column is never padded."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def errors_table(infos: Iterable[pb.ErrorInfo], with_action: bool) -> str:
    """Catalog entries, one per line."""
    headers = ["CODE", "CATEGORY", "WHAT TO DO", "REASON"]
    if with_action:
        headers.append("RECOMMENDED ACTION")
    rows = []
    for info in infos:
        row = [
            str(info.code),
            enum_label(pb.Category, info.category),
            what_to_do(info),
            info.reason,
        ]
        if with_action:
            row.append(english_action(info))
        rows.append(row)
    return table(headers, rows)


def provenance_lines(infos: Iterable[pb.ErrorInfo]) -> str:
    """Where each entry comes from and what its decision rests on, a few lines per entry."""
    lines = []
    for info in infos:
        tags = [t for t in ("retired" if info.retired else "", info.checked_on) if t]
        lines.append(f"{info.code}: {info.decision_basis or '(no basis given)'}")
        lines.append(f"  source: {info.doc_url or '-'}" + (f" ({', '.join(tags)})" if tags else ""))
    return "\n".join(lines)


def categories_table(categories: Iterable[pb.CategoryInfo]) -> str:
    """The document's categories with their sizes."""
    return table(
        ["CATEGORY", "NAME", "CODES", "IN DOCUMENT", "DESCRIPTION"],
        [
            (
                enum_label(pb.Category, c.category),
                c.display_name,
                c.code_count,
                c.document_code_count,
                c.description,
            )
            for c in categories
        ],
    )


def classifications_table(classifications: Iterable[pb.Classification]) -> str:
    """One line per error found in a payload."""
    rows = []
    for c in classifications:
        info = c.error_info
        rows.append(
            (
                info.code,
                enum_label(pb.Category, info.category),
                what_to_do(info),
                enum_label(pb.MatchKind, c.match_kind),
                f"{c.confidence:.2f}",
                c.context.message_id or "-",
                info.reason,
            )
        )
    return table(
        ["CODE", "CATEGORY", "WHAT TO DO", "MATCHED BY", "CONF", "MESSAGE ID", "REASON"], rows
    )


def summary_tables(summary: pb.SummarizeErrorsResponse) -> str:
    """A SummarizeErrors report: totals, then counts by category, action, code, actor."""
    totals = table(
        ["ITEMS", "INVALID", "WITHOUT ERRORS", "ERRORS", "RETRYABLE"],
        [
            (
                summary.total_items,
                summary.invalid_items,
                summary.items_without_errors,
                summary.total_errors,
                summary.retryable_errors,
            )
        ],
    )
    parts = [totals]
    for title, counts, enum in (
        ("CATEGORY", summary.by_category, pb.Category),
        ("WHAT TO DO", summary.by_retry_strategy, pb.RetryStrategy),
        ("ACTOR", summary.by_actor, pb.Actor),
        ("MATCHED BY", summary.by_match_kind, pb.MatchKind),
        ("CODE", summary.by_code, None),
    ):
        if counts:
            rows = [(_count_label(c.key, enum), c.count) for c in counts]
            parts.append(table([title, "ERRORS"], rows))
    return "\n\n".join(parts)


def _count_label(key: str, enum: Any) -> str:
    if enum is None:
        return key
    try:
        return enum_label(enum, enum.Value(key))
    except ValueError:
        return key


def message_json(message: Message) -> str:
    """Proto3 JSON with the .proto field names, indented, as grpcurl prints it."""
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2)


class ResultLines:
    """ClassifyResults as JSONL lines: proto3 JSON, readable back with json_format.Parse.

    A broadcast repeats a few codes many times, so each distinct ErrorInfo is
    converted once and reused (3x faster than MessageToDict per result).
    `status.code` is always present (0 = OK), `classifications` too.
    """

    def __init__(self, max_cached: int = 4096) -> None:
        self._infos: dict[bytes, dict[str, Any]] = {}
        self._max_cached = max_cached

    def _info(self, info: pb.ErrorInfo) -> dict[str, Any]:
        key = info.SerializeToString(deterministic=True)
        cached = self._infos.get(key)
        if cached is None:
            cached = json_format.MessageToDict(info, preserving_proto_field_name=True)
            if len(self._infos) < self._max_cached:
                self._infos[key] = cached
        return cached

    def line(self, result: pb.ClassifyResult) -> bytes:
        """One result as one line, newline included."""
        classifications = [
            {
                "error_info": self._info(c.error_info),
                "match_kind": pb.MatchKind.Name(c.match_kind),
                "confidence": float(f"{c.confidence:.6g}"),  # float32 without its noise
                "context": json_format.MessageToDict(c.context, preserving_proto_field_name=True),
            }
            for c in result.classifications
        ]
        status = (
            json_format.MessageToDict(result.status, preserving_proto_field_name=True)
            if result.status.code
            else {"code": 0}
        )
        data = {"id": result.id, "classifications": classifications, "status": status}
        return orjson.dumps(data) + b"\n"
