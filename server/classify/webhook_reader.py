"""A typed fast path for the common case: a Meta webhook of statuses or messages.

Most of what a broadcast pipeline streams is one shape: `entry[].changes[]
.value` holding `statuses[]` (or `messages[]`) with `errors[]`. Decoding it
with msgspec into typed structs skips every field the classifier ignores
(pricing, conversation, contacts...) inside the parser, which costs about
half of a generic JSON parse, and walking typed structs is cheaper than
walking dicts.

The fast path must find exactly what `server.classify.generic_reader.extract_errors` finds,
so it only answers when it is sure: anything unusual (a type it did not
expect, a value carrying several containers whose key order would matter, a
value-level status, a top level that is not a webhook) returns None and the
generic path answers, with its own error messages. tests/test_fastpath.py
checks both paths agree on the corpus and on generated webhooks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.classify.found import (
    MAX_CODE,
    MAX_ERRORS,
    FoundError,
    context_message,
    ensure_room,
    parse_code,
)

_UNSET: Any = msgspec.UNSET


class _ErrorData(msgspec.Struct):
    details: Any = None


class _Error(msgspec.Struct):
    code: Any = _UNSET
    error_code: Any = _UNSET
    errorCode: Any = _UNSET  # noqa: N815 (the JSON key)
    error_subcode: Any = _UNSET
    title: Any = None
    error_user_title: Any = None
    reason: Any = None
    message: Any = None
    error_message: Any = None
    errorMessage: Any = None  # noqa: N815
    error_user_msg: Any = None
    description: Any = None
    error_data: _ErrorData | str | None = None
    details: Any = None
    detail: Any = None
    href: Any = None
    fbtrace_id: Any = None
    type: Any = None
    is_transient: Any = None
    http_status: Any = None
    status_code: Any = None
    httpStatus: Any = None  # noqa: N815
    statusCode: Any = None  # noqa: N815


class _Status(msgspec.Struct):
    id: Any = None
    status: Any = None
    timestamp: Any = None
    recipient_id: Any = None
    errors: list[_Error] | None = None


class _Message(msgspec.Struct):
    id: Any = None
    errors: list[_Error] | msgspec.UnsetType | None = _UNSET


class _Metadata(msgspec.Struct):
    phone_number_id: Any = None


class _Value(msgspec.Struct):
    metadata: _Metadata | None = None
    statuses: list[_Status] | msgspec.UnsetType | None = _UNSET
    messages: list[_Message] | msgspec.UnsetType | None = _UNSET
    errors: list[_Error] | msgspec.UnsetType | None = _UNSET
    status: Any = _UNSET
    recipient_id: Any = _UNSET


class _Change(msgspec.Struct):
    value: _Value | None = None


class _Entry(msgspec.Struct):
    id: Any = None
    changes: list[_Change] | None = None


class _Webhook(msgspec.Struct):
    entry: list[_Entry] | msgspec.UnsetType | None = _UNSET
    error: _Error | str | msgspec.UnsetType = _UNSET  # a Graph API error body


_DECODER = msgspec.json.Decoder(_Webhook)
_DECLINE = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError)


class _NotSureError(Exception):
    """The payload is not the plain shape; the generic path must answer."""


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
        return _graph_error(webhook.error, f"{field}.error")
    if type(entries) is not list:
        return None
    out: list[FoundError] = []
    try:
        for i, entry in enumerate(entries):
            waba = _str(entry.id)
            for j, change in enumerate(entry.changes or ()):
                value = change.value
                if value is None:
                    continue
                _walk_value(value, waba, f"{field}.entry[{i}].changes[{j}].value", out)
    except _NotSureError:
        return None
    return out


def _graph_error(error: _Error | str | msgspec.UnsetType, path: str) -> list[FoundError] | None:
    """`{"error": {...}}` as the Graph API answers; None for anything else."""
    if isinstance(error, str):
        return [_bare(_NO_CONTEXT, path, error)]
    if isinstance(error, _Error):
        out: list[FoundError] = []
        _append_error(error, _NO_CONTEXT, path, out)
        return out
    return None


_Ids = tuple[str, str, str, str, str, str]
"""message id, recipient id, status, timestamp, phone number id, business account id."""
_NO_CONTEXT: _Ids = ("", "", "", "", "", "")


def _walk_value(value: _Value, waba: str, path: str, out: list[FoundError]) -> None:
    if value.status is not _UNSET or value.recipient_id is not _UNSET:
        raise _NotSureError
    present = (
        (value.statuses is not _UNSET)
        + (value.messages is not _UNSET)
        + (value.errors is not _UNSET)
    )
    if present > 1:  # the generic path follows key order, which structs do not keep
        raise _NotSureError
    phone = _str(value.metadata.phone_number_id) if value.metadata is not None else ""
    statuses = value.statuses
    if statuses:
        for k, status in enumerate(statuses):
            _walk_status(status, waba, phone, f"{path}.statuses[{k}]", out)
        return
    messages = value.messages
    if messages:
        for k, message in enumerate(messages):
            if message.errors is not _UNSET and message.errors:
                context = (_str(message.id), "", "", "", phone, waba)
                _walk_errors(message.errors, context, f"{path}.messages[{k}]", out)
        return
    errors = value.errors
    if errors:
        _walk_errors(errors, ("", "", "", "", phone, waba), path, out)


def _walk_status(status: _Status, waba: str, phone: str, path: str, out: list[FoundError]) -> None:
    # `x if type(x) is str else _str(x)`: most fields are strings, and the
    # inline test skips a call per field (about 4% of a stream item's cost).
    state, message_id, recipient_id, timestamp = (
        status.status,
        status.id,
        status.recipient_id,
        status.timestamp,
    )
    state = state if type(state) is str else _str(state)
    context = (
        message_id if type(message_id) is str else _str(message_id),
        recipient_id if type(recipient_id) is str else _str(recipient_id),
        state,
        timestamp if type(timestamp) is str else _str(timestamp),
        phone,
        waba,
    )
    if status.errors:
        before = len(out)
        _walk_errors(status.errors, context, path, out)
        if len(out) > before:
            return
    if state.lower() == "failed":
        ensure_room(out, path)
        out.append(_bare(context, path, ""))


def _walk_errors(errors: list[_Error], context: _Ids, path: str, out: list[FoundError]) -> None:
    for i, error in enumerate(errors):
        where = f"{path}.errors[{i}]"
        if len(out) >= MAX_ERRORS:
            ensure_room(out, where)
        _append_error(error, context, where, out)


def _append_error(error: _Error, context: _Ids, where: str, out: list[FoundError]) -> None:
    message_id, recipient_id, state, timestamp, phone, waba = context
    code = _code(error.code, where, "code")
    if error.code is _UNSET:
        code = _code(error.error_code, where, "error_code")
        if error.error_code is _UNSET:
            code = _code(error.errorCode, where, "errorCode")
    data = error.error_data
    details = ""
    if type(data) is _ErrorData:
        details = _str(data.details)
    elif type(data) is str:
        details = data
    transient = error.is_transient
    if type(transient) is not bool:
        lowered = transient.lower() if type(transient) is str else ""
        transient = lowered == "true" if lowered in ("true", "false") else None
    http_status = 0
    for status in (error.http_status, error.status_code, error.httpStatus, error.statusCode):
        if type(status) is int and 100 <= status <= 599:
            http_status = status
            break
    title, message, href, trace, kind = (
        error.title,
        error.message,
        error.href,
        error.fbtrace_id,
        error.type,
    )
    title = (
        title
        if type(title) is str and title
        else _first(title, error.error_user_title, error.reason)
    )
    message = (
        message
        if type(message) is str and message
        else _first(
            message,
            error.error_message,
            error.errorMessage,
            error.error_user_msg,
            error.description,
        )
    )
    details = details or _first(error.details, error.detail)
    subcode = _code(error.error_subcode, where, "error_subcode")
    echoed = context_message(
        where,
        message_id,
        recipient_id,
        state,
        timestamp,
        phone,
        waba,
        code,
        subcode,
        title,
        message,
        details,
        href if type(href) is str else _str(href),
        trace if type(trace) is str else _str(trace),
        kind if type(kind) is str else _str(kind),
        http_status,
        transient,
    )
    out.append(FoundError(echoed, code, subcode, title, message, details, http_status, transient))


def _code(value: Any, where: str, key: str) -> int | None:
    """A code field: plain ints inline, everything else through `parse_code`."""
    if value is _UNSET:
        return None
    if type(value) is int and 0 <= value <= MAX_CODE:
        return value
    return parse_code(value, f"{where}.{key}")


def _bare(context: _Ids, path: str, message: str) -> FoundError:
    """An error with no error object: a failed status without errors, or a string error."""
    echoed = context_message(path, *context, None, None, "", message, "", "", "", "", 0, None)
    return FoundError(echoed, message=message)


def _str(value: Any) -> str:
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _first(*values: Any) -> str:
    for value in values:
        if value is None:
            continue
        text = _str(value)
        if text:
            return text
    return ""
