"""Opaque AIP-132 page tokens that remember the filters they were issued for.

A token replayed with other filters, edited by hand or truncated is rejected
with INVALID_ARGUMENT rather than silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import orjson

from whatsapp_errors.server.rich_status import invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    """The effective page size: 0 means the default; above the maximum is capped."""
    if requested < 0:
        raise invalid_argument([("page_size", f"must not be negative, got {requested}")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _fingerprint(filters: str) -> str:
    return hashlib.sha256(filters.encode("utf-8")).hexdigest()[:16]


def encode_token(offset: int, filters: str) -> str:
    """A token for the page starting at `offset` under `filters`."""
    raw = orjson.dumps({"o": offset, "f": _fingerprint(filters)})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, filters: str) -> int:
    """The offset a token points at; INVALID_ARGUMENT when it is not ours or not for `filters`."""
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        offset = data["o"]
        fingerprint = data["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeEncodeError):
        raise invalid_argument([("page_token", "malformed page token")]) from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid_argument([("page_token", "malformed page token")])
    if fingerprint != _fingerprint(filters):
        raise invalid_argument(
            [("page_token", "the token was issued for different filters; start again without it")]
        )
    return offset
