"""The typed shape of a plain Meta webhook, as the fast path decodes it with msgspec.

Only the fields the readers use are declared; msgspec skips the rest inside
the parser. `Error` forbids unknown fields: an error object with a key the
fast path does not read (a BSP's `whatsappApiError`, Twilio's `ErrorCode`)
fails the decode, and the generic reader answers instead.

A field the answer echoes is a JSON scalar, and a string no longer than the
context keeps (server/classify/found.py: ids 256 characters, texts 1024):
anything else (an object where a text goes, a 2,000-character message) fails
the decode too, so the generic reader, which caps, answers it, and the fast
path never has to cap. No struct can hold a reference cycle (they come from
JSON), so none is tracked by the garbage collector (`gc=False`).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from whatsapp_errors.server.classify.found import MAX_CONTEXT_ID, MAX_CONTEXT_TEXT

_UNSET: Any = msgspec.UNSET

Id = Annotated[str, msgspec.Meta(max_length=MAX_CONTEXT_ID)] | int | float | bool | None
"""An id-like value the context echoes (capped at MAX_CONTEXT_ID characters there)."""
Text = Annotated[str, msgspec.Meta(max_length=MAX_CONTEXT_TEXT)] | int | float | bool | None
"""A text the context echoes (capped at MAX_CONTEXT_TEXT characters there)."""


class ErrorData(msgspec.Struct, gc=False):
    details: Text = None


class Error(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    code: Any = _UNSET
    error_code: Any = _UNSET
    errorCode: Any = _UNSET  # noqa: N815 (the JSON key)
    error_subcode: Any = _UNSET
    title: Text = None
    error_user_title: Text = None
    reason: Text = None
    message: Text = None
    error_message: Text = None
    errorMessage: Text = None  # noqa: N815
    error_user_msg: Text = None
    description: Text = None
    error_data: ErrorData | Annotated[str, msgspec.Meta(max_length=MAX_CONTEXT_TEXT)] | None = None
    details: Text = None
    detail: Text = None
    href: Text = None
    fbtrace_id: Id = None
    type: Id = None
    is_transient: Any = None
    http_status: Any = None
    status_code: Any = None
    httpStatus: Any = None  # noqa: N815
    statusCode: Any = None  # noqa: N815


class Status(msgspec.Struct, gc=False):
    id: Id = None
    status: Id = None
    timestamp: Id = None
    recipient_id: Id = None
    errors: list[Error] | None = None


class Message(msgspec.Struct, gc=False):
    id: Id = None
    errors: list[Error] | msgspec.UnsetType | None = _UNSET


class Metadata(msgspec.Struct, gc=False):
    phone_number_id: Id = None


class Value(msgspec.Struct, gc=False):
    metadata: Metadata | None = None
    statuses: list[Status] | msgspec.UnsetType | None = _UNSET
    messages: list[Message] | msgspec.UnsetType | None = _UNSET
    errors: list[Error] | msgspec.UnsetType | None = _UNSET
    status: Any = _UNSET
    recipient_id: Any = _UNSET


class Change(msgspec.Struct, gc=False):
    value: Value | None = None


class Entry(msgspec.Struct, gc=False):
    id: Id = None
    changes: list[Change] | None = None


class Webhook(msgspec.Struct, gc=False):
    entry: list[Entry] | msgspec.UnsetType | None = _UNSET
    error: Error | str | msgspec.UnsetType = _UNSET  # a Graph API error body
    # Beside `error`, a vendor's message context (Vonage, MessageBird): generic path.
    message_uuid: Any = _UNSET
    messageId: Any = _UNSET  # noqa: N815 (the JSON key)
    message_id: Any = _UNSET
    id: Any = _UNSET
    to: Any = _UNSET
    recipient_id: Any = _UNSET
    destination: Any = _UNSET
    status: Any = _UNSET
    conversationId: Any = _UNSET  # noqa: N815 (MessageBird's message beside `error`)
