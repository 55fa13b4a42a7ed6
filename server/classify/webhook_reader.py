"""A typed fast path for the common case: a Meta webhook of statuses or messages.

Most of what a broadcast pipeline streams is one shape: `entry[].changes[]
.value` holding `statuses[]` (or `messages[]`) with `errors[]`. Decoding it
with msgspec into typed structs skips every field the classifier ignores
(pricing, conversation, contacts...) inside the parser, which costs about
half of a generic JSON parse, and walking typed structs is cheaper than
walking dicts.

The fast path must find exactly what `generic_reader.extract_errors` finds,
so it only answers when it is sure: anything unusual (a type it did not
expect, a value carrying several containers whose key order would matter, a
value-level status, a top level that is not a webhook) returns None and the
generic path answers, with its own error messages. An error object with a
key the fast path does not read (a BSP's `whatsappApiError`, Twilio's
`ErrorCode`...) fails the typed decode (`forbid_unknown_fields`), and so does
a code that is not a plain number: both go to the generic path at no cost to
the common case. tests/test_fastpath.py checks both paths agree on the
corpus and on generated webhooks. This module walks the webhook down to its
error objects; server/classify/typed_error.py reads each one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from whatsapp_errors.server.classify.found import MAX_ERRORS, FoundError, ensure_room
from whatsapp_errors.server.classify.typed_error import (
    NO_CONTEXT,
    Ids,
    NotSureError,
    append_error,
    as_str,
    bare_error,
)
from whatsapp_errors.server.classify.webhook_structs import Error as _Error
from whatsapp_errors.server.classify.webhook_structs import Status as _Status
from whatsapp_errors.server.classify.webhook_structs import Value as _Value
from whatsapp_errors.server.classify.webhook_structs import Webhook as _Webhook

_UNSET: Any = msgspec.UNSET
_SIBLINGS = tuple(f for f in _Webhook.__struct_fields__ if f not in ("entry", "error"))


_DECODER = msgspec.json.Decoder(_Webhook)
_DECLINE = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError)


def extract_webhook_errors(payload: bytes | str, field: str = "payload") -> list[FoundError] | None:
    """Every error of a plain webhook payload, or None when the generic path must answer.

    InputError (a bad code) propagates exactly as the generic path raises it.
    """
    if type(payload) is bytes and not payload.isascii():
        try:  # msgspec does not check the UTF-8 of fields it skips; orjson does
            payload.decode()
        except UnicodeDecodeError:
            return None
    try:
        webhook = _DECODER.decode(payload)
    except _DECLINE:
        return None
    entries = webhook.entry
    if entries is _UNSET:
        if any(getattr(webhook, name) is not _UNSET for name in _SIBLINGS):
            return None
        try:
            return _graph_error(webhook.error, f"{field}.error")
        except NotSureError:
            return None
    if type(entries) is not list:
        return None
    out: list[FoundError] = []
    try:
        for i, entry in enumerate(entries):
            waba = as_str(entry.id)
            for j, change in enumerate(entry.changes or ()):
                value = change.value
                if value is None:
                    continue
                _walk_value(value, waba, field, i, j, out)
    except NotSureError:
        return None
    return out


def _graph_error(error: _Error | str | msgspec.UnsetType, path: str) -> list[FoundError] | None:
    """`{"error": {...}}` as the Graph API answers; None for anything else."""
    if isinstance(error, str):
        return [bare_error(NO_CONTEXT, path, error, "graph_error")]
    if isinstance(error, _Error):
        out: list[FoundError] = []
        append_error(error, NO_CONTEXT, path, out, "graph_error", False)
        return out
    return None


_PATHS_MAX = 4096
_STATUS_ERROR_PATHS: dict[tuple[str, int, int, int, int], str] = {}
"""(field, entry, change, status, error) -> the error's path: a dict hit beats formatting it."""


def _status_error_path(field: str, i: int, j: int, k: int, e: int) -> str:
    """`field.entry[i].changes[j].value.statuses[k].errors[e]`, the most common error path."""
    key = (field, i, j, k, e)
    path = _STATUS_ERROR_PATHS.get(key)
    if path is None:
        path = f"{field}.entry[{i}].changes[{j}].value.statuses[{k}].errors[{e}]"
        if len(_STATUS_ERROR_PATHS) < _PATHS_MAX:  # the few small indices repeat; others vary
            _STATUS_ERROR_PATHS[key] = path
    return path


def _walk_value(
    value: _Value, waba: str, field: str, i: int, j: int, out: list[FoundError]
) -> None:
    if value.status is not _UNSET or value.recipient_id is not _UNSET:
        raise NotSureError
    present = (
        (value.statuses is not _UNSET)
        + (value.messages is not _UNSET)
        + (value.errors is not _UNSET)
    )
    if present > 1:  # the generic path follows key order, which structs do not keep
        raise NotSureError
    phone = as_str(value.metadata.phone_number_id) if value.metadata is not None else ""
    statuses = value.statuses
    if statuses:
        for k, status in enumerate(statuses):
            _walk_status(status, waba, phone, field, i, j, k, out)
        return
    path = f"{field}.entry[{i}].changes[{j}].value"
    messages = value.messages
    if messages:
        for k, message in enumerate(messages):
            if message.errors is not _UNSET and message.errors:
                context = (as_str(message.id), "", "", "", phone, waba)
                _walk_errors(message.errors, context, f"{path}.messages[{k}]", out, True)
        return
    errors = value.errors
    if errors:
        _walk_errors(errors, ("", "", "", "", phone, waba), path, out, False)


def _walk_status(
    status: _Status,
    waba: str,
    phone: str,
    field: str,
    i: int,
    j: int,
    k: int,
    out: list[FoundError],
) -> None:
    # `x if type(x) is str else as_str(x)`: most fields are strings, and the
    # inline test skips a call per field (about 4% of a stream item's cost).
    state, message_id, recipient_id, timestamp = (
        status.status,
        status.id,
        status.recipient_id,
        status.timestamp,
    )
    state = state if type(state) is str else as_str(state)
    context = (
        message_id if type(message_id) is str else as_str(message_id),
        recipient_id if type(recipient_id) is str else as_str(recipient_id),
        state,
        timestamp if type(timestamp) is str else as_str(timestamp),
        phone,
        waba,
    )
    errors = status.errors
    if errors:
        before = len(out)
        paths = _STATUS_ERROR_PATHS
        for e, error in enumerate(errors):
            where = paths.get((field, i, j, k, e)) or _status_error_path(field, i, j, k, e)
            if len(out) >= MAX_ERRORS:
                ensure_room(out, where)
            append_error(error, context, where, out, _WEBHOOK, False)
        if len(out) > before:
            return
    if state.lower() == "failed":
        path = f"{field}.entry[{i}].changes[{j}].value.statuses[{k}]"
        ensure_room(out, path)
        out.append(bare_error(context, path, "", _WEBHOOK))


_WEBHOOK = "meta_webhook"


def _walk_errors(
    errors: list[_Error], context: Ids, path: str, out: list[FoundError], inbound: bool
) -> None:
    for i, error in enumerate(errors):
        where = f"{path}.errors[{i}]"
        if len(out) >= MAX_ERRORS:
            ensure_room(out, where)
        append_error(error, context, where, out, _WEBHOOK, inbound)
