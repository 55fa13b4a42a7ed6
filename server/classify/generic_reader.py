"""Finds every error in a JSON body, whatever shape it arrived in.

Reads Meta status webhooks (every entry, change, status, message and error),
value-level errors, Graph API error responses and the provider's own error
objects, tolerating the variants seen in the wild: codes as strings, a string
`error_data`, missing `message`/`details`, a WhatsApp code in `error_subcode`.
"""

from __future__ import annotations

from typing import Any

import orjson

from server.classify.found import (
    FoundError,
    InputError,
    RawError,
    ensure_room,
    parse_code,
    to_found,
)

_CODE_KEYS = ("code", "error_code", "errorCode")
_TITLE_KEYS = ("title", "error_user_title", "reason")
_MESSAGE_KEYS = ("message", "error_message", "errorMessage", "error_user_msg", "description")
_DETAIL_KEYS = ("details", "detail")
_HTTP_KEYS = ("http_status", "status_code", "httpStatus", "statusCode")
_ERROR_OBJECT_KEYS = frozenset(
    (*_CODE_KEYS, *_TITLE_KEYS, *_MESSAGE_KEYS, "error_subcode", "error_data", *_HTTP_KEYS)
)
_CONTAINER_KEYS = ("statuses", "messages", "errors")


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
