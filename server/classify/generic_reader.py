"""Finds every error in a JSON body, whatever shape it arrived in.

Reads, in this order: Meta status webhooks (every entry, change, status,
message and error), Graph API error responses (`error`, with any vendor
context beside it), value, status and On-Premises bodies (`statuses`,
`messages`, `errors`), BSP events (server/classify/envelopes.py), bare error
objects, arrays of any of these (n8n and Make batches), and wrappers that
automation tools put around a body (`body`, `data`, `json`, a `raw_body`
string), with the HTTP status and headers a wrapper carries. Errors nested
one or two levels inside a vendor object are found too. Tolerates the
variants seen in the wild: codes as strings or names, a string
`error_data`, missing `message`/`details`, a WhatsApp code in
`error_subcode`. The statuses, messages and errors inside a webhook or a
value are walked by server/classify/generic_webhook.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from whatsapp_errors.server.classify.envelopes import read_envelope
from whatsapp_errors.server.classify.error_context import to_found
from whatsapp_errors.server.classify.error_fields import (
    ERROR_OBJECT_KEYS,
    STRONG_KEYS,
    copy,
    fill,
    is_empty,
    json_type,
    read_error,
    to_str,
)
from whatsapp_errors.server.classify.found import FoundError, InputError, RawError
from whatsapp_errors.server.classify.generic_webhook import walk_container, walk_webhook
from whatsapp_errors.server.classify.text_codes import fragments
from whatsapp_errors.server.classify.transport import http_status_of, lower_headers, wait_seconds

NOT_RECOGNISED = (
    "not a recognised body: expected a Meta webhook (`entry`), a Graph API error (`error`), "
    "a value, status or On-Premises body (`statuses`, `messages`, `errors`), a BSP body "
    "(YCloud `whatsappMessage`, Twilio `MessageStatus`/`ErrorCode`, Gupshup `message-event`, "
    "Infobip `results`, Bird `failure`, Wati `failedCode`, 360dialog `meta`), an error object "
    "(`code`, `message`, `title`, `details`, `error_data`), an array of these, or a wrapper "
    "(`body`, `data`, `json`, `payload`, `response`, `raw_body`) around one"
)
_CONTAINER_KEYS = ("statuses", "messages", "errors")
_WRAPPER_KEYS = (
    "body",
    "data",
    "json",
    "payload",
    "response",
    "result",
    "raw_body",
    "rawBody",
    "value",
    "event",
)
_SIBLING_IDS = ("message_uuid", "messageId", "message_id", "id")
_SIBLING_RECIPIENTS = ("to", "recipient_id", "destination")
_MAX_DEPTH = 3
"""Levels of wrappers and vendor objects searched below the top (a batch item counts as one)."""
_MAX_WRAPPED = 4 * 1024 * 1024
"""Longest JSON string inside a wrapper that is parsed (the payload limit)."""


def loads(payload: bytes | str, field: str = "payload") -> Any:
    """Parses JSON with orjson (UTF-8 checked, nesting bounded at 1024 levels)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputError(field, f"not valid JSON: {exc}") from None


def extract_errors(document: Any, field: str = "payload") -> list[FoundError]:
    """Every error in a parsed JSON body, in payload order.

    Returns an empty list for a recognised body with no error in it (such as a
    `delivered` status); raises InputError for a body holding nothing
    recognisable (the message names the shapes read) or a malformed value.
    """
    out: list[RawError] = []
    if isinstance(document, list):
        problem = _read_array(document, RawError(), field, out, 0)
        if problem is not None:
            raise problem
    elif isinstance(document, dict):
        if not _read_body(document, RawError(), field, out, 0):
            raise InputError(field, NOT_RECOGNISED)
    else:
        raise InputError(
            field,
            "expected a JSON object (webhook or error body) or an array of them, "
            f"got {json_type(document)}",
        )
    return [to_found(raw) for raw in out]


def errors_in_text(text: str, field: str = "text") -> list[FoundError]:
    """The errors of a JSON or dict fragment written in `text`; [] when it holds none."""
    for fragment in fragments(text):
        out: list[RawError] = []
        try:
            recognised = _read_body(fragment, RawError(shape="text"), f"{field}.fragment", out, 0)
        except InputError:
            return []  # a fragment we cannot read is only text
        if recognised and out:
            found = [to_found(raw) for raw in out]
            for error in found:  # the fragment's fields are still text the caller logged
                error.code_from_text = error.code is not None
                error.subcode_from_text = error.subcode is not None
                error.context.code_from_text = error.code_from_text or error.subcode_from_text
            return found
    return []


def _read_body(
    doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError], depth: int
) -> bool:
    """Appends the errors of one body; False when nothing in it is recognisable."""
    if "entry" in doc:
        walk_webhook(doc, copy(ctx, shape=ctx.shape or "meta_webhook"), path, out)
        return True
    if "error" in doc:
        _read_error_key(doc, ctx, path, out)
        return True
    if any(key in doc for key in _CONTAINER_KEYS):
        shape = ctx.shape or ("on_premises" if "meta" in doc else "value")
        walk_container(doc, copy(ctx, shape=shape), path, out)
        return True
    if read_envelope(doc, ctx, path, out):
        return True
    if STRONG_KEYS.intersection(doc):
        _read_error_object(doc, ctx, path, out)
        return True
    if depth < _MAX_DEPTH and _read_wrappers(doc, ctx, path, out, depth):
        return True
    if depth == 0 and ERROR_OBJECT_KEYS.intersection(doc):  # only a message, title or status
        _read_error_object(doc, ctx, path, out)
        return True
    return False


def _read_error_key(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    """`{"error": ...}`: a Graph API error, or a vendor's, with the message context beside it."""
    error = doc["error"]
    ids = ctx
    if any(key in doc for key in (*_SIBLING_IDS, *_SIBLING_RECIPIENTS, "status")):
        ids = copy(
            ctx,
            message_id=_first(doc, _SIBLING_IDS) or ctx.message_id,
            recipient_id=_first(doc, _SIBLING_RECIPIENTS) or ctx.recipient_id,
            status=to_str(doc.get("status")) or ctx.status,
        )
    shape = ctx.shape or _error_shape(error, doc)
    if isinstance(error, list):
        for i, item in enumerate(error):
            read_error(item, ids, f"{path}.error[{i}]", out, shape)
    else:
        read_error(error, ids, f"{path}.error", out, shape)


def _error_shape(error: Any, doc: dict[str, Any]) -> str:
    if isinstance(error, dict):
        if "whatsappApiError" in error:
            return "ycloud"
        if "instance" in error or "message_uuid" in doc:
            return "vonage"
        if "conversationId" in doc:  # a MessageBird Conversations message
            return "bird"
    return "graph_error"


def _read_error_object(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    """A bare error object; one that says nothing is no error unless its status failed."""
    probe = RawError()
    fill(probe, doc, path)
    ids = ctx
    if isinstance(doc.get("status"), str):
        ids = copy(ctx, status=doc["status"], message_id=to_str(doc.get("id")) or ctx.message_id)
    if is_empty(probe) and not probe.http_status and ids.status.lower() != "failed":
        return
    shape = ctx.shape or ("twilio" if "more_info" in doc else "error_object")
    if "instance" in doc:
        shape = ctx.shape or "vonage"
    read_error(doc, ids, path, out, shape)


def _read_wrappers(
    doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError], depth: int
) -> bool:
    """Bodies inside wrappers and vendor objects, with the status and wait a wrapper carries."""
    status = 0
    for key in ("statusCode", "status", "httpCode", "status_code"):
        status = http_status_of(doc.get(key))
        if status:
            break
    headers = lower_headers(doc.get("headers"))
    wait = wait_seconds(headers) if headers else None
    inner = ctx
    if status or wait is not None:
        inner = copy(ctx, http_status=status or ctx.http_status)
        inner.retry_after_seconds = wait if wait is not None else ctx.retry_after_seconds
    recognised = False
    for key in _WRAPPER_KEYS:
        if key in doc:
            recognised |= _read_any(doc[key], inner, f"{path}.{key}", out, depth + 1)
    if recognised:
        return True
    for key, value in doc.items():  # an error one or two levels inside a vendor object
        if key not in _WRAPPER_KEYS and key != "headers" and isinstance(value, dict | list):
            recognised |= _read_any(value, inner, f"{path}.{key}", out, depth + 1)
    return recognised


def _read_any(value: Any, ctx: RawError, path: str, out: list[RawError], depth: int) -> bool:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] not in ("{", "[") or len(text) > _MAX_WRAPPED:
            return False
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
    if isinstance(value, dict):
        return _read_body(value, ctx, path, out, depth)
    if isinstance(value, list):
        return _read_array(value, ctx, path, out, depth) is None and bool(value)
    return False


def _read_array(
    items: list[Any], ctx: RawError, path: str, out: list[RawError], depth: int
) -> InputError | None:
    """A batch of bodies (n8n items, Make bundles): None when any is read, else why none is."""
    problem: InputError | None = None
    recognised = not items
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if isinstance(item, dict):
            if _read_body(item, ctx, where, out, depth + 1 if depth else 0):
                recognised = True
            elif problem is None:
                problem = InputError(where, NOT_RECOGNISED)
        elif problem is None:
            problem = InputError(
                where, f"expected a JSON object (webhook or error body), got {json_type(item)}"
            )
    return None if recognised else problem


def _first(doc: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        text = to_str(doc.get(key))
        if text:
            return text
    return ""
