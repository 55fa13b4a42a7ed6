"""The error model both readers share: what a decision reads, what an answer echoes.

A reader turns an input into `RawError`s (every field it found, texts
whole); server/classify/error_context.py turns each into a `FoundError`,
which carries the capped `ErrorContext` the answer echoes. The caps here
bound what one request can make the server hold and send back.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

from whatsapp_errors.v1 import error_catalog_pb2 as pb

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
    answer echoes. Both readers (server/classify/generic_reader.py and
    server/classify/webhook_reader.py) return these, so their answers compare
    equal when they agree.

    What each field tells decide():
    - `code`: the numeric WhatsApp/Graph code the error carried; None when it
      carried none (never 0 for "absent": 0 is Meta's AuthException).
    - `subcode`: the Graph API `error_subcode`; None when absent. A subcode is
      never a code of its own: it qualifies `code`.
    - `title`, `message`, `details`: the error's texts (details from
      `error_data.details`, or `error_data` itself when it is a string).
    - `http_status`: the HTTP status the error came with (a field of the
      error, else the input's transport or the envelope around it); 0 when
      unknown. It shapes a fallback; it is never a code.
    - `is_transient`: the payload's own retry hint; None when absent.
    - `symbolic_code`: a BSP's own code when it is not a WhatsApp number, as
      sent: a name ("TOO_MANY_REQUESTS"), a negative sentinel ("-1"), or the
      BSP's numeric code when a Meta error nested inside supplied `code`.
      Empty when none.
    - `retry_after_seconds`: the wait the transport asked for (Retry-After in
      seconds or as an HTTP date, Meta's usage headers'
      `estimated_time_to_regain_access`), already in seconds; None when the
      input said nothing. A reader never derives it from the catalog.
    - `inbound`: the error sits on an inbound message
      (`value.messages[].errors`): a message the business received, not one
      it sent, failed to be read.
    - `code_from_text` / `subcode_from_text`: that value was read from the
      error's text (a `(#131047)` marker, `code 131047`, a logged dict or a
      JSON fragment in a string), not from a code field: weaker evidence.
    - `user_title`, `user_message`: the Graph API `error_user_title` and
      `error_user_msg`, meant for a person.
    - `shape`: the body shape the error was read from (one of SHAPES).
    """

    context: pb.ErrorContext
    code: int | None = None
    subcode: int | None = None
    title: str = ""
    message: str = ""
    details: str = ""
    http_status: int = 0
    is_transient: bool | None = None
    symbolic_code: str = ""
    retry_after_seconds: float | None = None
    inbound: bool = False
    code_from_text: bool = False
    subcode_from_text: bool = False
    user_title: str = ""
    user_message: str = ""
    shape: str = ""


SHAPES = (
    "meta_webhook",
    "value",
    "graph_error",
    "on_premises",
    "error_object",
    "ycloud",
    "twilio",
    "gupshup",
    "infobip",
    "vonage",
    "bird",
    "wati",
    "360dialog",
    "text",
    "structured",
    "code",
)
"""Every `shape` a FoundError can name (the envelope family it was read from)."""


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
    symbolic_code: str = ""
    user_title: str = ""
    user_message: str = ""
    inbound: bool = False
    shape: str = ""
    retry_after_seconds: float | None = None


def ensure_room(out: Sized, path: str) -> None:
    """Refuses the error at `path` when the payload already holds MAX_ERRORS."""
    if len(out) >= MAX_ERRORS:
        raise InputError(path, f"more than {MAX_ERRORS} errors in one payload")


def show(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
