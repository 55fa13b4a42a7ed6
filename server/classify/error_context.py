"""The ErrorContext an answer echoes for one error, and the FoundError that carries it.

Both readers finish an error here: the generic reader through `to_found`,
the typed webhook reader (server/classify/typed_error.py) through
`with_text_codes` and `context_message`, so an error without a code has its
text read the same way on both paths, and its context is capped the same
way (the caps are server/classify/found.py's).
"""

from __future__ import annotations

from typing import Any

from whatsapp_errors.server.classify.found import (
    MAX_CONTEXT_ID,
    MAX_CONTEXT_TEXT,
    FoundError,
    RawError,
)
from whatsapp_errors.server.classify.text_codes import codes_in_text
from whatsapp_errors.v1 import error_catalog_pb2 as pb


def to_found(raw: RawError) -> FoundError:
    """The FoundError of a fully collected RawError (codes in its text read when it has none)."""
    code, subcode, from_text, sub_from_text = with_text_codes(
        raw.code, raw.subcode, raw.title, raw.message, raw.details
    )
    return FoundError(
        context_message(
            raw.path,
            raw.message_id,
            raw.recipient_id,
            raw.status,
            raw.timestamp,
            raw.phone_number_id,
            raw.business_account_id,
            code,
            subcode,
            raw.title,
            raw.message,
            raw.details,
            raw.href,
            raw.fbtrace_id,
            raw.error_type,
            raw.http_status,
            raw.is_transient,
            raw.symbolic_code,
            raw.user_title,
            raw.user_message,
            from_text or sub_from_text,
            raw.inbound,
            raw.shape,
        ),
        code,
        subcode,
        raw.title,
        raw.message,
        raw.details,
        raw.http_status,
        raw.is_transient,
        raw.symbolic_code,
        raw.retry_after_seconds,
        raw.inbound,
        from_text,
        sub_from_text,
        raw.user_title,
        raw.user_message,
        raw.shape,
    )


def with_text_codes(
    code: int | None, subcode: int | None, title: str, message: str, details: str
) -> tuple[int | None, int | None, bool, bool]:
    """(code, subcode, code read from text, subcode read from text) of one error.

    Only an error without a code has its text read: a code field always
    wins over what the text says. Both readers call this, so they agree.
    """
    if code is not None or not (title or message or details):
        return code, subcode, False, False
    code, text_subcode = codes_in_text(title, message, details)
    if subcode is None and text_subcode is not None:
        return code, text_subcode, code is not None, True
    return code, subcode, code is not None, False


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
    symbolic_code: str = "",
    user_title: str = "",
    user_message: str = "",
    from_text: bool = False,
    inbound: bool = False,
    shape: str = "",
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
    if code is not None:
        fields["carried_code"] = code
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
    if symbolic_code:
        fields["symbolic_code"] = symbolic_code[:ids]
    if user_title:
        fields["error_user_title"] = user_title[:texts]
    if user_message:
        fields["error_user_msg"] = user_message[:texts]
    if from_text:
        fields["code_from_text"] = True
    if inbound:
        fields["inbound"] = True
    if shape:
        fields["shape"] = shape
    return pb.ErrorContext(**fields)
