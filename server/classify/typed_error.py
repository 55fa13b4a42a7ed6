"""Reads one typed error object of a plain webhook into a FoundError: the fast path's inner loop.

server/classify/webhook_reader.py walks a decoded webhook down to its error
objects (server/classify/webhook_structs.py's `Error`) and hands each here
with the ids of the status or message it sits on. What comes out must equal
what the generic reader makes of the same object (tests/test_fastpath.py),
so anything this reader is not sure of (a code that is a name, an RFC 7807
problem link) raises NotSureError and the generic path answers the payload.
"""

from __future__ import annotations

from typing import Any

import msgspec

from whatsapp_errors.server.classify.error_context import context_message, with_text_codes
from whatsapp_errors.server.classify.found import MAX_CODE, MAX_CONTEXT_TEXT, FoundError
from whatsapp_errors.server.classify.transport import http_status_of
from whatsapp_errors.server.classify.webhook_structs import Error as _Error
from whatsapp_errors.server.classify.webhook_structs import ErrorData as _ErrorData
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_UNSET: Any = msgspec.UNSET
_ErrorContext = pb.ErrorContext
_TEXTS = MAX_CONTEXT_TEXT


class NotSureError(Exception):
    """The payload is not the plain shape; the generic path must answer."""


Ids = tuple[str, str, str, str, str, str]
"""message id, recipient id, status, timestamp, phone number id, business account id."""
NO_CONTEXT: Ids = ("", "", "", "", "", "")


def append_error(
    error: _Error, context: Ids, where: str, out: list[FoundError], shape: str, inbound: bool
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
    code: Any = error.code
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
        details = given_details if type(given_details) is str else as_str(given_details)
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
        else first_text(title, error.error_user_title, error.reason)
    )
    message = (
        message
        if type(message) is str and message
        else first_text(
            message,
            error.error_message,
            error.errorMessage,
            error.error_user_msg,
            error.description,
        )
    )
    details = details or first_text(error.details, error.detail)
    subcode = error.error_subcode
    if subcode is _UNSET or subcode is None:
        subcode = None
    elif type(subcode) is not int or not 0 <= subcode <= MAX_CODE:
        subcode = _code(subcode, where, "error_subcode")
    if type(kind) is str and "://" in kind:
        raise NotSureError  # an RFC 7807 problem link: the generic path reads its code
    user_title, user_message = error.error_user_title, error.error_user_msg
    user_title = "" if user_title is None else as_str(user_title)
    user_message = "" if user_message is None else as_str(user_message)
    from_text = sub_from_text = False
    if code is None:
        code, subcode, from_text, sub_from_text = with_text_codes(
            code, subcode, title, message, details
        )
    href = href if type(href) is str else as_str(href)
    trace = trace if type(trace) is str else as_str(trace)
    kind = kind if type(kind) is str else as_str(kind)
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
    raise NotSureError


def bare_error(context: Ids, path: str, message: str, shape: str) -> FoundError:
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


def as_str(value: Any) -> str:
    """An id or text as the context echoes it: "" for None, a boolean or anything not a scalar."""
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


def first_text(*values: Any) -> str:
    """The first of `values` that is a non-empty text once read as one, or ""."""
    for value in values:
        if value is None:
            continue
        text = as_str(value)
        if text:
            return text
    return ""
