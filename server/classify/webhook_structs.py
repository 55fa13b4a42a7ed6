"""The typed shape of a plain Meta webhook, as the fast path decodes it with msgspec.

Only the fields the readers use are declared; msgspec skips the rest inside
the parser. `Error` forbids unknown fields: an error object with a key the
fast path does not read (a BSP's `whatsappApiError`, Twilio's `ErrorCode`)
fails the decode, and the generic reader answers instead.
"""

from __future__ import annotations

from typing import Any

import msgspec

_UNSET: Any = msgspec.UNSET


class ErrorData(msgspec.Struct):
    details: Any = None


class Error(msgspec.Struct, forbid_unknown_fields=True):
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
    error_data: ErrorData | str | None = None
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


class Status(msgspec.Struct):
    id: Any = None
    status: Any = None
    timestamp: Any = None
    recipient_id: Any = None
    errors: list[Error] | None = None


class Message(msgspec.Struct):
    id: Any = None
    errors: list[Error] | msgspec.UnsetType | None = _UNSET


class Metadata(msgspec.Struct):
    phone_number_id: Any = None


class Value(msgspec.Struct):
    metadata: Metadata | None = None
    statuses: list[Status] | msgspec.UnsetType | None = _UNSET
    messages: list[Message] | msgspec.UnsetType | None = _UNSET
    errors: list[Error] | msgspec.UnsetType | None = _UNSET
    status: Any = _UNSET
    recipient_id: Any = _UNSET


class Change(msgspec.Struct):
    value: Value | None = None


class Entry(msgspec.Struct):
    id: Any = None
    changes: list[Change] | None = None


class Webhook(msgspec.Struct):
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
