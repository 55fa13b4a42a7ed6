"""The error model both readers share: what a decision reads, what an answer echoes.

A reader turns an input into `RawError`s (every field it found, texts
whole); `to_found` turns each into a `FoundError`, which carries the capped
`ErrorContext` the answer echoes. The caps here bound what one request can
make the server hold and send back.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

from whatsapp.errors.v1 import error_catalog_pb2 as pb

MAX_CODE = 2**63 - 1
MAX_ERRORS = 10_000
"""Most errors one payload may hold: bounds the work (and the response) one request causes."""
MAX_CONTEXT_ID = 256
"""Longest id-like string (wamid, recipient, status, timestamp...) echoed in a context."""
MAX_CONTEXT_TEXT = 1024
"""Longest text (title, message, details, href, path) echoed in a context."""


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
        raise InputError(field, f"a code must be a non-negative integer, got {show(value)}")
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
            raise InputError(field, f"a code must be digits, got {show(value)}")
        code = int(text)
    else:
        raise InputError(field, f"a code must be a number, got {type(value).__name__}")
    if code < 0 or code > MAX_CODE:
        raise InputError(field, f"a code must be between 0 and {MAX_CODE}, got {show(code)}")
    return code


def ensure_room(out: Sized, path: str) -> None:
    """Refuses the error at `path` when the payload already holds MAX_ERRORS."""
    if len(out) >= MAX_ERRORS:
        raise InputError(path, f"more than {MAX_ERRORS} errors in one payload")


def show(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
