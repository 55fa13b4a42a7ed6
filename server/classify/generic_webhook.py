"""The generic reader's walk of a parsed Meta webhook and of the containers inside it.

A webhook's `entry[].changes[].value`, a value, a status and an
On-Premises body hold their errors in containers: `statuses[]` (each with
its `errors[]`, or only `"status": "failed"`), `messages[]` (inbound
messages with `errors[]`) and `errors[]`. This walks them on dicts, in key
order, carrying each level's ids (business account, phone number, message,
recipient, status, timestamp) down to the errors it finds. The typed fast
path (server/classify/webhook_reader.py) walks the same shape on structs
and must find the same errors.
"""

from __future__ import annotations

from typing import Any

from whatsapp_errors.server.classify.error_fields import as_dict, as_list, copy, read_error, to_str
from whatsapp_errors.server.classify.found import RawError, ensure_room


def walk_webhook(doc: dict[str, Any], base: RawError, path: str, out: list[RawError]) -> None:
    """`entry[].changes[].value`: each value walked with its business account and phone ids."""
    for i, entry in enumerate(as_list(doc, "entry", path)):
        entry_path = f"{path}.entry[{i}]"
        entry = as_dict(entry, entry_path)
        ctx = copy(base, business_account_id=to_str(entry.get("id")))
        for j, change in enumerate(as_list(entry, "changes", entry_path)):
            change_path = f"{entry_path}.changes[{j}]"
            change = as_dict(change, change_path)
            value = change.get("value")
            if value is None:
                continue
            value = as_dict(value, f"{change_path}.value")
            metadata = value.get("metadata")
            phone = to_str(metadata.get("phone_number_id")) if isinstance(metadata, dict) else ""
            walk_container(value, copy(ctx, phone_number_id=phone), f"{change_path}.value", out)


def walk_container(obj: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    """A `value`, a status or a message: follows its statuses, messages and errors in order."""
    if "status" in obj or "recipient_id" in obj:
        ctx = _with_status(obj, ctx)
    for key in obj:
        if key == "statuses":
            for i, status in enumerate(as_list(obj, key, path)):
                status_path = f"{path}.statuses[{i}]"
                status = as_dict(status, status_path)
                _walk_status(status, ctx, status_path, out)
        elif key == "messages":
            for i, message in enumerate(as_list(obj, key, path)):
                message_path = f"{path}.messages[{i}]"
                message = as_dict(message, message_path)
                if "errors" in message:
                    msg_ctx = copy(ctx, message_id=to_str(message.get("id")), inbound=True)
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
        out.append(copy(status_ctx, path=path))


def _walk_errors(obj: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> None:
    for i, item in enumerate(as_list(obj, "errors", path)):
        read_error(item, ctx, f"{path}.errors[{i}]", out, ctx.shape)


def _with_status(obj: dict[str, Any], ctx: RawError) -> RawError:
    return copy(
        ctx,
        message_id=to_str(obj.get("id")) or ctx.message_id,
        recipient_id=to_str(obj.get("recipient_id")) or ctx.recipient_id,
        status=to_str(obj.get("status")) or ctx.status,
        timestamp=to_str(obj.get("timestamp")) or ctx.timestamp,
    )
