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
corpus and on generated webhooks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from whatsapp_errors.server.classify.found import (
    MAX_CODE,
    MAX_CONTEXT_TEXT,
    MAX_ERRORS,
    FoundError,
    context_message,
    ensure_room,
    with_text_codes,
)
from whatsapp_errors.server.classify.transport import http_status_of
from whatsapp_errors.server.classify.webhook_structs import Error as _Error
from whatsapp_errors.server.classify.webhook_structs import ErrorData as _ErrorData
from whatsapp_errors.server.classify.webhook_structs import Status as _Status
from whatsapp_errors.server.classify.webhook_structs import Value as _Value
from whatsapp_errors.server.classify.webhook_structs import Webhook as _Webhook
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_UNSET: Any = msgspec.UNSET
_SIBLINGS = tuple(f for f in _Webhook.__struct_fields__ if f not in ("entry", "error"))


_DECODER = msgspec.json.Decoder(_Webhook)
_ErrorContext = pb.ErrorContext
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
        if any(getattr(webhook, name) is not _UNSET for name in _SIBLINGS):
            return None
        try:
            return _graph_error(webhook.error, f"{field}.error")
        except _NotSureError:
            return None
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
                _walk_value(value, waba, field, i, j, out)
    except _NotSureError:
        return None
    return out


def _graph_error(error: _Error | str | msgspec.UnsetType, path: str) -> list[FoundError] | None:
    """`{"error": {...}}` as the Graph API answers; None for anything else."""
    if isinstance(error, str):
        return [_bare(_NO_CONTEXT, path, error, "graph_error")]
    if isinstance(error, _Error):
        out: list[FoundError] = []
        _append_error(error, _NO_CONTEXT, path, out, "graph_error", False)
        return out
    return None


_Ids = tuple[str, str, str, str, str, str]
"""message id, recipient id, status, timestamp, phone number id, business account id."""
_NO_CONTEXT: _Ids = ("", "", "", "", "", "")
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
            _walk_status(status, waba, phone, field, i, j, k, out)
        return
    path = f"{field}.entry[{i}].changes[{j}].value"
    messages = value.messages
    if messages:
        for k, message in enumerate(messages):
            if message.errors is not _UNSET and message.errors:
                context = (_str(message.id), "", "", "", phone, waba)
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
    errors = status.errors
    if errors:
        before = len(out)
        paths = _STATUS_ERROR_PATHS
        for e, error in enumerate(errors):
            where = paths.get((field, i, j, k, e)) or _status_error_path(field, i, j, k, e)
            if len(out) >= MAX_ERRORS:
                ensure_room(out, where)
            _append_error(error, context, where, out, _WEBHOOK, False)
        if len(out) > before:
            return
    if state.lower() == "failed":
        path = f"{field}.entry[{i}].changes[{j}].value.statuses[{k}]"
        ensure_room(out, path)
        out.append(_bare(context, path, "", _WEBHOOK))


_WEBHOOK = "meta_webhook"
_TEXTS = MAX_CONTEXT_TEXT


def _walk_errors(
    errors: list[_Error], context: _Ids, path: str, out: list[FoundError], inbound: bool
) -> None:
    for i, error in enumerate(errors):
        where = f"{path}.errors[{i}]"
        if len(out) >= MAX_ERRORS:
            ensure_room(out, where)
        _append_error(error, context, where, out, _WEBHOOK, inbound)


def _append_error(
    error: _Error, context: _Ids, where: str, out: list[FoundError], shape: str, inbound: bool
) -> None:
    """The FoundError of one error object, its context built as `context_message` builds it.

    The hot path of a stream item, so the common case is inline: an int
    code, no subcode, no HTTP status, string texts. The ErrorContext is
    made in one constructor call with the fields a webhook error usually
    has (an empty string or 0 leaves a field unset, as context_message
    leaves it out), the rarer ones set only when present; the message is
    the same (tests/test_fastpath.py compares the two readers' answers).
    No id or text needs capping: the structs decline longer ones
    (server/classify/webhook_structs.py); only the path, which holds the
    caller's field name, can be too long.
    """
    message_id, recipient_id, state, timestamp, phone, waba = context
    code = error.code
    if type(code) is not int or not 0 <= code <= MAX_CODE:
        given = code
        code = _code(given, where, "code")
        if given is _UNSET:
            code = _code(error.error_code, where, "error_code")
            if error.error_code is _UNSET:
                code = _code(error.errorCode, where, "errorCode")
    data = error.error_data
    details = ""
    if type(data) is _ErrorData:
        given_details = data.details
        details = given_details if type(given_details) is str else _str(given_details)
    elif type(data) is str:
        details = data
    transient = error.is_transient
    if transient is not None and type(transient) is not bool:
        lowered = transient.lower() if type(transient) is str else ""
        transient = lowered == "true" if lowered in ("true", "false") else None
    http_status = 0
    if not (
        error.http_status is None
        and error.status_code is None
        and error.httpStatus is None
        and error.statusCode is None
    ):
        for status in (error.http_status, error.status_code, error.httpStatus, error.statusCode):
            if status is not None:
                http_status = http_status_of(status)
                if http_status:
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
    subcode = error.error_subcode
    if subcode is _UNSET or subcode is None:
        subcode = None
    elif type(subcode) is not int or not 0 <= subcode <= MAX_CODE:
        subcode = _code(subcode, where, "error_subcode")
    if type(kind) is str and "://" in kind:
        raise _NotSureError  # an RFC 7807 problem link: the generic path reads its code
    user_title, user_message = error.error_user_title, error.error_user_msg
    user_title = "" if user_title is None else _str(user_title)
    user_message = "" if user_message is None else _str(user_message)
    from_text = sub_from_text = False
    if code is None:
        code, subcode, from_text, sub_from_text = with_text_codes(
            code, subcode, title, message, details
        )
    href = href if type(href) is str else _str(href)
    trace = trace if type(trace) is str else _str(trace)
    kind = kind if type(kind) is str else _str(kind)
    echoed = _ErrorContext(
        path=where if len(where) <= _TEXTS else where[:_TEXTS],
        message_id=message_id,
        recipient_id=recipient_id,
        status=state,
        timestamp=timestamp,
        phone_number_id=phone,
        business_account_id=waba,
        original_code=code or 0,
        carried_code=code,
        title=title,
        message=message,
        details=details,
        href=href,
        shape=shape,
    )
    if subcode:
        echoed.original_subcode = subcode
    if trace:
        echoed.fbtrace_id = trace
    if kind:
        echoed.error_type = kind
    if http_status:
        echoed.http_status = http_status
    if transient is not None:
        echoed.is_transient = transient
    if user_title:
        echoed.error_user_title = user_title
    if user_message:
        echoed.error_user_msg = user_message
    if from_text or sub_from_text:
        echoed.code_from_text = True
    if inbound:
        echoed.inbound = True
    out.append(
        FoundError(
            echoed,
            code,
            subcode,
            title,
            message,
            details,
            http_status,
            transient,
            "",
            None,
            inbound,
            from_text,
            sub_from_text,
            user_title,
            user_message,
            shape,
        )
    )


def _code(value: Any, where: str, key: str) -> int | None:
    """A code field: plain ints and digit strings inline; anything else is the generic path's.

    Names, sentinels and bad codes decline, so the generic path answers
    with its own reading (or its own error message).
    """
    if value is _UNSET or value is None:
        return None
    kind = type(value)
    if kind is int and 0 <= value <= MAX_CODE:
        return value  # type: ignore[no-any-return]
    if kind is str:
        text = value.strip()
        if not text:
            return None
        if text.isascii() and text.isdigit() and int(text) <= MAX_CODE:
            return int(text)
    elif kind is float and value.is_integer() and 0 <= value <= MAX_CODE:
        return int(value)
    raise _NotSureError


def _bare(context: _Ids, path: str, message: str, shape: str) -> FoundError:
    """An error with no error object: a failed status without errors, or a string error."""
    code, subcode, from_text, sub_from_text = with_text_codes(None, None, "", message, "")
    echoed = context_message(
        path,
        *context,
        code,
        subcode,
        "",
        message,
        "",
        "",
        "",
        "",
        0,
        None,
        "",
        "",
        "",
        from_text or sub_from_text,
        False,
        shape,
    )
    return FoundError(
        echoed,
        code,
        subcode,
        message=message,
        code_from_text=from_text,
        subcode_from_text=sub_from_text,
        shape=shape,
    )


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
