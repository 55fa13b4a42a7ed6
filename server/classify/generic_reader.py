"""Finds every error in a JSON body, whatever shape it arrived in.

Reads Meta status webhooks (every entry, change, status, message and error),
value-level errors, Graph API error responses and the provider's own error
objects, tolerating the variants seen in the wild: codes as strings, a string
`error_data`, missing `message`/`details`, a WhatsApp code in `error_subcode`.
"""

from __future__ import annotations

import logging
from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

import orjson

from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

MAX_CODE = 2**63 - 1
MAX_ERRORS = 10_000
"""Most errors one payload may hold: bounds the work (and the response) one request causes."""
MAX_CONTEXT_ID = 256
"""Longest id-like string (wamid, recipient, status, timestamp...) echoed in a context."""
MAX_CONTEXT_TEXT = 1024
"""Longest text (title, message, details, href, path) echoed in a context."""

_CODE_KEYS = ("code", "error_code", "errorCode")
_TITLE_KEYS = ("title", "error_user_title", "reason")
_MESSAGE_KEYS = ("message", "error_message", "errorMessage", "error_user_msg", "description")
_DETAIL_KEYS = ("details", "detail")
_HTTP_KEYS = ("http_status", "status_code", "httpStatus", "statusCode")
_ERROR_OBJECT_KEYS = frozenset(
    (*_CODE_KEYS, *_TITLE_KEYS, *_MESSAGE_KEYS, "error_subcode", "error_data", *_HTTP_KEYS)
)
_CONTAINER_KEYS = ("statuses", "messages", "errors")


class InputError(ValueError):
    """The input cannot be read; `field` is the path of the offending value."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


@dataclass(slots=True)
class FoundError:
    """One error found in an input: what the decision reads, and the context it is served with.

    Texts are kept whole for matching; `context` holds the capped copies the
    answer echoes. Both readers (this module and server/classify/webhook_reader.py) return
    these, so their answers compare equal when they agree.
    """

    context: pb.ErrorContext
    code: int | None = None
    subcode: int | None = None
    title: str = ""
    message: str = ""
    details: str = ""
    http_status: int = 0
    is_transient: bool | None = None


@dataclass(slots=True)
class RawError:
    """Every field of one error as the generic reader collects it; `to_found()` finishes it."""

    path: str = ""
    code: int | None = None
    subcode: int | None = None
    title: str = ""
    message: str = ""
    details: str = ""
    href: str = ""
    fbtrace_id: str = ""
    error_type: str = ""
    is_transient: bool | None = None
    http_status: int = 0
    message_id: str = ""
    recipient_id: str = ""
    status: str = ""
    timestamp: str = ""
    phone_number_id: str = ""
    business_account_id: str = ""


def to_found(raw: RawError) -> FoundError:
    """The FoundError of a fully collected RawError."""
    return FoundError(
        context_message(
            raw.path,
            raw.message_id,
            raw.recipient_id,
            raw.status,
            raw.timestamp,
            raw.phone_number_id,
            raw.business_account_id,
            raw.code,
            raw.subcode,
            raw.title,
            raw.message,
            raw.details,
            raw.href,
            raw.fbtrace_id,
            raw.error_type,
            raw.http_status,
            raw.is_transient,
        ),
        raw.code,
        raw.subcode,
        raw.title,
        raw.message,
        raw.details,
        raw.http_status,
        raw.is_transient,
    )


def context_message(  # one argument per ErrorContext field, positional: called per error
    path: str,
    message_id: str,
    recipient_id: str,
    status: str,
    timestamp: str,
    phone_number_id: str,
    business_account_id: str,
    code: int | None,
    subcode: int | None,
    title: str,
    message: str,
    details: str,
    href: str,
    fbtrace_id: str,
    error_type: str,
    http_status: int,
    is_transient: bool | None,
) -> pb.ErrorContext:
    """The ErrorContext echoed for one error.

    Strings are capped (ids at 256 characters, texts at 1024): the context
    repeats a status's ids for each of its errors, so uncapped a 100 KB
    payload could ask for gigabytes of response. Only set fields are passed:
    each keyword costs the message constructor a field set, and a typical
    error leaves a quarter of them empty.
    """
    ids, texts = MAX_CONTEXT_ID, MAX_CONTEXT_TEXT
    fields: dict[str, Any] = {}
    if path:
        fields["path"] = path[:texts]
    if message_id:
        fields["message_id"] = message_id[:ids]
    if recipient_id:
        fields["recipient_id"] = recipient_id[:ids]
    if status:
        fields["status"] = status[:ids]
    if timestamp:
        fields["timestamp"] = timestamp[:ids]
    if phone_number_id:
        fields["phone_number_id"] = phone_number_id[:ids]
    if business_account_id:
        fields["business_account_id"] = business_account_id[:ids]
    if code:
        fields["original_code"] = code
    if subcode:
        fields["original_subcode"] = subcode
    if title:
        fields["title"] = title[:texts]
    if message:
        fields["message"] = message[:texts]
    if details:
        fields["details"] = details[:texts]
    if href:
        fields["href"] = href[:texts]
    if fbtrace_id:
        fields["fbtrace_id"] = fbtrace_id[:ids]
    if error_type:
        fields["error_type"] = error_type[:ids]
    if http_status:
        fields["http_status"] = http_status
    if is_transient is not None:
        fields["is_transient"] = is_transient
    return pb.ErrorContext(**fields)


def parse_code(value: Any, field: str) -> int | None:
    """A code as sent: int, integral float or digit string; None when absent.

    Anything else (booleans, fractions, negatives, numbers past int64, words)
    is an InputError naming `field`.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(field, f"a code must be a non-negative integer, got {_show(value)}")
    if isinstance(value, int):
        code = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise InputError(field, f"a code must be a whole number, got {value!r}")
        code = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            raise InputError(field, f"a code must be digits, got {_show(value)}")
        code = int(text)
    else:
        raise InputError(field, f"a code must be a number, got {type(value).__name__}")
    if code < 0 or code > MAX_CODE:
        raise InputError(field, f"a code must be between 0 and {MAX_CODE}, got {_show(code)}")
    return code


def loads(payload: bytes | str, field: str = "payload") -> Any:
    """Parses JSON with orjson (UTF-8 checked, nesting bounded at 1024 levels)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputError(field, f"not valid JSON: {exc}") from None


def extract_errors(document: Any, field: str = "payload") -> list[FoundError]:
    """Every error in a parsed JSON body, in payload order.

    Returns an empty list for a recognised body with no error in it (such as a
    `delivered` status); raises InputError for anything unrecognised.
    """
    if not isinstance(document, dict):
        raise InputError(
            field, f"expected a JSON object (webhook or error body), got {_json_type(document)}"
        )
    out: list[RawError] = []
    base = RawError()
    if "entry" in document:
        _walk_webhook(document, base, field, out)
    elif "error" in document:
        error = document["error"]
        if isinstance(error, str):
            out.append(RawError(path=f"{field}.error", message=error))
        else:
            _walk_error(error, base, f"{field}.error", out)
    elif any(key in document for key in _CONTAINER_KEYS):
        _walk_container(document, base, field, out)
    elif _ERROR_OBJECT_KEYS.intersection(document):
        _walk_error(document, base, field, out)
    else:
        raise InputError(
            field,
            "not a recognised body: expected a webhook (`entry`), a Graph API error "
            "(`error`), a value or status object (`statuses`, `messages`, `errors`) or "
            "an error object (`code`, `message`, `title`)",
        )
    return [to_found(raw) for raw in out]


def _walk_webhook(doc: dict[str, Any], base: RawError, path: str, out: list[RawError]) -> None:
    for i, entry in enumerate(_list(doc, "entry", path)):
        entry_path = f"{path}.entry[{i}]"
        entry = _dict(entry, entry_path)
        ctx = _copy(base, business_account_id=_str(entry.get("id")))
        for j, change in enumerate(_list(entry, "changes", entry_path)):
            change_path = f"{entry_path}.changes[{j}]"
            change = _dict(change, change_path)
            value = change.get("value")
            if value is None:
                continue
            value = _dict(value, f"{change_path}.value")
            metadata = value.get("metadata")
            phone = _str(metadata.get("phone_number_id")) if isinstance(metadata, dict) else ""
            _walk_container(value, _copy(ctx, phone_number_id=phone), f"{change_path}.value", out)


def _walk_container(obj: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    """A `value`, a status or a message: follows its statuses, messages and errors in order."""
    if "status" in obj or "recipient_id" in obj:
        ctx = _with_status(obj, ctx)
    for key in obj:
        if key == "statuses":
            for i, status in enumerate(_list(obj, key, path)):
                status_path = f"{path}.statuses[{i}]"
                status = _dict(status, status_path)
                _walk_status(status, ctx, status_path, out)
        elif key == "messages":
            for i, message in enumerate(_list(obj, key, path)):
                message_path = f"{path}.messages[{i}]"
                message = _dict(message, message_path)
                if "errors" in message:
                    msg_ctx = _copy(ctx, message_id=_str(message.get("id")))
                    _walk_errors(message, msg_ctx, message_path, out)
        elif key == "errors":
            _walk_errors(obj, ctx, path, out)


def _walk_status(status: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    status_ctx = _with_status(status, ctx)
    if "errors" in status and status["errors"] is not None:
        before = len(out)
        _walk_errors(status, status_ctx, path, out)
        if len(out) > before:
            return
    if status_ctx.status.lower() == "failed":  # a failure with no error item is still a failure
        ensure_room(out, path)
        out.append(_copy(status_ctx, path=path))


def _walk_errors(obj: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    for i, item in enumerate(_list(obj, "errors", path)):
        _walk_error(item, ctx, f"{path}.errors[{i}]", out)


def _walk_error(item: Any, ctx: RawError, path: str, out: list[RawError]) -> None:
    ensure_room(out, path)
    if isinstance(item, str):
        out.append(_copy(ctx, path=path, message=item))
        return
    if isinstance(item, int) and not isinstance(item, bool):
        out.append(_copy(ctx, path=path, code=parse_code(item, path)))
        return
    error = _dict(item, path)
    raw = _copy(ctx, path=path)
    for key in _CODE_KEYS:
        if key in error:
            raw.code = parse_code(error[key], f"{path}.{key}")
            break
    if "error_subcode" in error:
        raw.subcode = parse_code(error["error_subcode"], f"{path}.error_subcode")
    raw.title = _first_str(error, _TITLE_KEYS)
    raw.message = _first_str(error, _MESSAGE_KEYS)
    data = error.get("error_data")
    if isinstance(data, dict):
        raw.details = _str(data.get("details"))
    elif isinstance(data, str):
        raw.details = data
    if not raw.details:
        raw.details = _first_str(error, _DETAIL_KEYS)
    raw.href = _str(error.get("href"))
    raw.fbtrace_id = _str(error.get("fbtrace_id"))
    raw.error_type = _str(error.get("type"))
    transient = error.get("is_transient")
    if isinstance(transient, bool):
        raw.is_transient = transient
    elif isinstance(transient, str) and transient.lower() in ("true", "false"):
        raw.is_transient = transient.lower() == "true"
    for key in _HTTP_KEYS:
        status = error.get(key)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            raw.http_status = status
            break
    out.append(raw)


def ensure_room(out: Sized, path: str) -> None:
    """Refuses the error at `path` when the payload already holds MAX_ERRORS."""
    if len(out) >= MAX_ERRORS:
        raise InputError(path, f"more than {MAX_ERRORS} errors in one payload")


def _with_status(obj: dict[str, Any], ctx: RawError) -> RawError:
    return _copy(
        ctx,
        message_id=_str(obj.get("id")) or ctx.message_id,
        recipient_id=_str(obj.get("recipient_id")) or ctx.recipient_id,
        status=_str(obj.get("status")) or ctx.status,
        timestamp=_str(obj.get("timestamp")) or ctx.timestamp,
    )


def _copy(raw: RawError, **changes: Any) -> RawError:
    fresh = RawError(
        path=raw.path,
        message_id=raw.message_id,
        recipient_id=raw.recipient_id,
        status=raw.status,
        timestamp=raw.timestamp,
        phone_number_id=raw.phone_number_id,
        business_account_id=raw.business_account_id,
    )
    for key, value in changes.items():
        setattr(fresh, key, value)
    return fresh


def _list(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{path}.{key}", f"expected an array, got {_json_type(value)}")
    return value


def _dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(path, f"expected an object, got {_json_type(value)}")
    return value


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _first_str(obj: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        text = _str(obj.get(key))
        if text:
            return text
    return ""


def _json_type(value: Any) -> str:
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


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
