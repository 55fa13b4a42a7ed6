"""Checks on a request's raw bytes, before they are parsed into messages.

Parsing is not free: upb makes an object per submessage, so 4 MiB of empty
ClassifyItems (two bytes each) parse into 144 MiB, and 8 MiB of empty
Struct objects into 123 MiB, in one C call that holds the GIL for a third
of a second. The 1000-item and 4 MiB rules are checked after parsing, too
late for that. So the admission interceptor (server/ops/admission.py) runs
these first, on the bytes:

- a ClassifyStream or SummarizeErrors request over 1 MiB is scanned for its
  item count (stopping at the first item past the limit);
- any of them over 2 MiB is scanned for the bytes of its (items') `json` and
  `transport` submessages, the only parts that parse into many objects (a
  big `payload` is one string, refused later by name).

The scan reads field headers only, skipping over contents, and stops at
anything unexpected: malformed bytes are left for the parser to report.
"""

from __future__ import annotations

from collections.abc import Callable

from whatsapp_errors.server.rich_status import ServiceError, invalid_argument
from whatsapp_errors.server.rpc.budget import OverBudgetError
from whatsapp_errors.server.rpc.registration import SERVICE

MAX_BATCH_ITEMS = 1000
"""Most items one ClassifyStream or SummarizeErrors request may carry."""
MAX_NESTED_BYTES = 2 * 1024 * 1024
"""Bytes of `json` and `transport` one request may carry: they parse ~15x larger, and
parsing is one C call that holds the GIL (2 MiB: ~30 ms, ~30 MiB)."""
COUNT_ITEMS_ABOVE = 1024 * 1024
"""Batches up to this size parse into at most ~36 MiB (empty items) whatever they hold."""
SCAN_NESTED_ABOVE = MAX_NESTED_BYTES
"""Smaller requests cannot carry more than MAX_NESTED_BYTES of anything."""
MAX_FIELDS = 64
"""A request or an item has an id, an input and a transport; this many fields is no client."""
_REQUEST_JSON = 4  # ClassifyRequest.json
_REQUEST_TRANSPORT = 6  # ClassifyRequest.transport
_ITEM_JSON = 5  # ClassifyItem.json
_ITEM_TRANSPORT = 7  # ClassifyItem.transport
_ITEMS_TAG = 0x0A  # field 1 (items), length-delimited

Check = Callable[[bytes], None]
"""Raises a ServiceError for raw request bytes that must not be parsed."""


def batch_too_large(count: int | str) -> ServiceError:
    """INVALID_ARGUMENT for a batch of more than MAX_BATCH_ITEMS items."""
    return invalid_argument(
        [("items", f"at most {MAX_BATCH_ITEMS} items per request, got {count}")],
        reason="BATCH_TOO_LARGE",
    )


def check_classify(raw: bytes) -> None:
    """Refuses a Classify request whose `json` and `transport` would parse too large.

    A large `payload` or `text` parses into one string (the classifier then
    refuses a payload over 4 MiB by name); only submessages multiply.
    """
    if len(raw) > SCAN_NESTED_ABOVE:
        _check_nested(raw, 0, len(raw), _REQUEST_JSON, _REQUEST_TRANSPORT, 0)


def check_batch(raw: bytes) -> None:
    """Refuses, unparsed, a batch over MAX_BATCH_ITEMS items or MAX_NESTED_BYTES.

    It runs on every large batch, so the common shapes (length-delimited
    fields with lengths under 16 KiB) take a tight inlined loop, ~0.5 us an
    item; anything else in an item goes through the general field walk.
    """
    if len(raw) <= COUNT_ITEMS_ABOVE:
        return
    deep = len(raw) > SCAN_NESTED_ABOVE
    end = len(raw)
    pos = items = nested = 0
    while pos < end:
        if raw[pos] != _ITEMS_TAG:
            return  # not the shape of a batch: the parser will say what it is
        length, start = _varint(raw, pos + 1)
        if start < 0 or start + length > end:
            return
        items += 1
        if items > MAX_BATCH_ITEMS:
            raise batch_too_large(f"more than {MAX_BATCH_ITEMS}")
        pos = start + length
        if deep:
            nested = _item_nested(raw, start, pos, nested)


def _item_nested(raw: bytes, at: int, end: int, total: int) -> int:
    """`total` plus one item's `json` and `transport` bytes (the fast path of _check_nested)."""
    fields = 0
    while at < end:
        tag = raw[at]
        if tag & 7 != 2 or tag >= 0x80 or at + 2 >= end:
            return _check_nested(raw, at, end, _ITEM_JSON, _ITEM_TRANSPORT, total)
        first = raw[at + 1]
        if first < 0x80:
            length, at = first, at + 2
        elif raw[at + 2] < 0x80:
            length, at = (first & 0x7F) | (raw[at + 2] << 7), at + 3
        else:
            return _check_nested(raw, at, end, _ITEM_JSON, _ITEM_TRANSPORT, total)
        if tag >> 3 in (_ITEM_JSON, _ITEM_TRANSPORT):
            total += length
            if total > MAX_NESTED_BYTES:
                raise _nested_too_large()
        at += length
        fields += 1
        if fields > MAX_FIELDS:
            raise _too_many_fields()
    return total


def _check_nested(raw: bytes, pos: int, end: int, json: int, transport: int, total: int) -> int:
    """`total` plus the bytes of the `json` and `transport` fields in raw[pos:end].

    Refuses past MAX_NESTED_BYTES, or past MAX_FIELDS fields (a message of
    a million tiny fields is no client's). Stops quietly at anything it does
    not skip (groups, cut bytes): the parser will report those.
    """
    fields = 0
    while pos < end:
        tag, pos = _varint(raw, pos)
        if pos < 0:
            return total
        wire = tag & 7
        if wire == 2:
            length, pos = _varint(raw, pos)
            if pos < 0:
                return total
            if tag >> 3 in (json, transport):
                total += length
                if total > MAX_NESTED_BYTES:
                    raise _nested_too_large()
            pos += length
        elif wire == 0:
            _value, pos = _varint(raw, pos)
            if pos < 0:
                return total
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            return total
        fields += 1
        if fields > MAX_FIELDS:
            raise _too_many_fields()
    return total


def _nested_too_large() -> OverBudgetError:
    return OverBudgetError(
        "nested_bytes",
        MAX_NESTED_BYTES,
        f"more than {MAX_NESTED_BYTES} bytes of `json` and `transport`",
    )


def _too_many_fields() -> ServiceError:
    return invalid_argument([("", f"more than {MAX_FIELDS} fields in one message")])


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it; (0, -1) if it is cut or too long."""
    if pos < len(raw) and raw[pos] < 0x80:  # lengths under 128: most tags, many items
        return raw[pos], pos + 1
    result = shift = 0
    end = min(len(raw), pos + 10)
    while pos < end:
        byte = raw[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    return 0, -1


CHECKS: dict[str, tuple[int, Check]] = {
    f"/{SERVICE.full_name}/Classify": (SCAN_NESTED_ABOVE, check_classify),
    f"/{SERVICE.full_name}/ClassifyStream": (COUNT_ITEMS_ABOVE, check_batch),
    f"/{SERVICE.full_name}/SummarizeErrors": (COUNT_ITEMS_ABOVE, check_batch),
}
"""Per method path: the size above which its requests are checked, and the check."""
