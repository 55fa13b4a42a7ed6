"""Reads one error object, whoever wrote it: Meta, an On-Premises client, a BSP, a tool.

The same failure arrives under many spellings: `code`, `error_code`,
`errorCode`, Twilio's `ErrorCode`, Wati's `failedCode`; a message as
`message`, `errorMessage`, `description` or 360dialog's `developerMessage`;
an HTTP status as `statusCode`, `httpCode` or a numeric `status`. A BSP
that wraps Meta's answer keeps it under a key of its own (YCloud's
`whatsappApiError`): its Meta code is the code, the BSP's own code is kept
as the symbolic code. Shared by the generic reader and the envelope rules.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from whatsapp_errors.server.classify.codes import read_code
from whatsapp_errors.server.classify.found import InputError, RawError, ensure_room
from whatsapp_errors.server.classify.transport import http_status_of

CODE_KEYS = ("code", "error_code", "errorCode", "ErrorCode", "failedCode")
TITLE_KEYS = ("title", "error_user_title", "reason")
MESSAGE_KEYS = (
    "message",
    "error_message",
    "errorMessage",
    "ErrorMessage",
    "error_user_msg",
    "description",
    "developerMessage",
    "developer_message",
    "failedDetail",
)
DETAIL_KEYS = ("details", "detail")
HTTP_KEYS = (
    "http_status",
    "status_code",
    "httpStatus",
    "statusCode",
    "httpCode",
    "http_code",
    "status",
)
HREF_KEYS = ("href", "more_info", "docUrl", "infoUrl", "doc_url")
NESTED_META_KEYS = (
    "whatsappApiError",
    "whatsapp_api_error",
    "whatsappError",
    "whatsapp_error",
    "metaError",
    "meta_error",
    "graphError",
    "graph_error",
    "providerError",
    "provider_error",
    "originalError",
    "original_error",
    "upstreamError",
    "upstream_error",
    "cause",
)
"""Keys under which a BSP or tool keeps the Meta error it received."""
ERROR_OBJECT_KEYS = frozenset(
    (
        *CODE_KEYS,
        *TITLE_KEYS,
        *MESSAGE_KEYS,
        *DETAIL_KEYS,
        "error_subcode",
        "error_data",
        *HTTP_KEYS[:-1],
        "httpCode",
        *NESTED_META_KEYS,
    )
)
"""Keys that make an object an error object (a bare `status` does not: statuses have one)."""
STRONG_KEYS = frozenset((*CODE_KEYS, "error_subcode", "error_data", *NESTED_META_KEYS))
"""Keys that make a nested object an error object on their own."""


def read_error(item: Any, ctx: RawError, path: str, out: list[RawError], shape: str) -> None:
    """Appends the error `item` (an object, a text or a bare code) at `path`."""
    ensure_room(out, path)
    if isinstance(item, str):
        out.append(copy(ctx, path=path, message=item, shape=shape))
        return
    if isinstance(item, int) and not isinstance(item, bool):
        code, symbol = read_code(item, path)
        out.append(copy(ctx, path=path, code=code, symbolic_code=symbol, shape=shape))
        return
    error = as_dict(item, path)
    raw = copy(ctx, path=path, shape=shape)
    fill(raw, error, path)
    for key in NESTED_META_KEYS:
        inner = error.get(key)
        if isinstance(inner, dict) and inner:
            nested = RawError()
            fill(nested, inner, f"{path}.{key}")
            merge(raw, nested)
            break
    out.append(raw)


def fill(raw: RawError, error: dict[str, Any], path: str) -> None:
    """Sets `raw`'s error fields from one object's keys (its context is left alone)."""
    for key in CODE_KEYS:
        if key in error:
            raw.code, raw.symbolic_code = read_code(error[key], f"{path}.{key}")
            break
    if "error_subcode" in error:
        subcode, _ = read_code(error["error_subcode"], f"{path}.error_subcode")
        raw.subcode = subcode
    raw.title = first_str(error, TITLE_KEYS)
    raw.message = first_str(error, MESSAGE_KEYS)
    raw.user_title = to_str(error.get("error_user_title"))
    raw.user_message = to_str(error.get("error_user_msg"))
    data = error.get("error_data")
    if isinstance(data, dict):
        raw.details = to_str(data.get("details"))
    elif isinstance(data, str):
        raw.details = data
    if not raw.details:
        raw.details = first_str(error, DETAIL_KEYS)
    raw.href = first_str(error, HREF_KEYS)
    raw.fbtrace_id = to_str(error.get("fbtrace_id"))
    kind = to_str(error.get("type"))
    if "://" in kind:  # an RFC 7807 problem type (Vonage): a link, its fragment a code
        raw.href = raw.href or kind
        if raw.code is None and not raw.symbolic_code:
            fragment = kind.rpartition("#")[2]
            if fragment and fragment != kind:
                with suppress(InputError):  # a fragment that is no code is only a link part
                    raw.code, raw.symbolic_code = read_code(fragment, f"{path}.type")
    else:
        raw.error_type = kind
    transient = error.get("is_transient")
    if isinstance(transient, bool):
        raw.is_transient = transient
    elif isinstance(transient, str) and transient.lower() in ("true", "false"):
        raw.is_transient = transient.lower() == "true"
    for key in HTTP_KEYS:
        status = error.get(key)
        if status is not None:
            found = http_status_of(status)
            if found:
                raw.http_status = found
                break


def merge(raw: RawError, nested: RawError) -> None:
    """Folds a nested Meta error into its BSP wrapper: Meta's code and texts fill the gaps."""
    if nested.code is not None:
        if raw.code is not None and raw.code != nested.code and not raw.symbolic_code:
            raw.symbolic_code = str(raw.code)
        raw.code = nested.code
    raw.symbolic_code = raw.symbolic_code or nested.symbolic_code
    if nested.subcode is not None:
        raw.subcode = nested.subcode
    for name in (
        "title",
        "message",
        "details",
        "href",
        "fbtrace_id",
        "error_type",
        "user_title",
        "user_message",
    ):
        if not getattr(raw, name):
            setattr(raw, name, getattr(nested, name))
    if nested.details:
        raw.details = nested.details
    if raw.is_transient is None:
        raw.is_transient = nested.is_transient
    raw.http_status = raw.http_status or nested.http_status


def is_empty(raw: RawError) -> bool:
    """Whether an error object said nothing at all (every field null or absent)."""
    return (
        raw.code is None
        and raw.subcode is None
        and not (raw.symbolic_code or raw.title or raw.message or raw.details)
        and not (raw.user_title or raw.user_message)
    )


def copy(raw: RawError, **changes: Any) -> RawError:
    """A fresh error carrying `raw`'s context (ids, envelope status and wait), then `changes`."""
    fresh = RawError(
        path=raw.path,
        message_id=raw.message_id,
        recipient_id=raw.recipient_id,
        status=raw.status,
        timestamp=raw.timestamp,
        phone_number_id=raw.phone_number_id,
        business_account_id=raw.business_account_id,
        http_status=raw.http_status,
        retry_after_seconds=raw.retry_after_seconds,
        inbound=raw.inbound,
        shape=raw.shape,
    )
    for key, value in changes.items():
        setattr(fresh, key, value)
    return fresh


def as_list(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    """`obj[key]` as an array (absent or null: empty); InputError naming the field otherwise."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{path}.{key}", f"expected an array, got {json_type(value)}")
    return value


def as_dict(value: Any, path: str) -> dict[str, Any]:
    """`value` as an object; InputError naming `path` otherwise."""
    if not isinstance(value, dict):
        raise InputError(path, f"expected an object, got {json_type(value)}")
    return value


def to_str(value: Any) -> str:
    """A string or number as text; anything else (objects, booleans, null) as ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def first_str(obj: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The first non-empty text among `keys`."""
    for key in keys:
        text = to_str(obj.get(key))
        if text:
            return text
    return ""


def json_type(value: Any) -> str:
    """A JSON value's type as an error message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
