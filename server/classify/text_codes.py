"""Reads the codes a failure writes into its text, in time linear in the text.

Backends log what they got, and a log line is often all that reaches us:
`(#131047) Re-engagement message`, `WhatsApp error code 131047`,
`{'code': 131047, 'error_subcode': 2494010}` (a Python dict), `{ code: 131047 }`
(a Node.js object dump), `error_subcode=2494010`, or a JSON body cut out of a
log line. Evidence, strongest first: a Graph API `(#N)` marker, a JSON or
dict fragment (the first `{` that opens a readable object), a `key: N` /
`key=N` pair, then prose `code N`.

Every pattern here is a fixed-width or bounded match (no nested quantifiers,
no `.*` pairs), fragments are tried at most MAX_FRAGMENT_TRIES times, each
bounded, so a 4 MiB adversarial text costs a few regex passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from whatsapp_errors.server.classify.loose_objects import parse_loose_object

MAX_SCAN = 256 * 1024
"""Characters of one text scanned for codes: log lines are short; the rest is payload noise."""
MAX_FRAGMENT_TRIES = 3
"""Openings `{` tried per text before giving up on a fragment."""
_MAX_CODE = 2**63 - 1
_MAX_WALK = 2000
"""Nodes of a fragment visited looking for its code."""

_MARKER = re.compile(r"\(#(\d{1,19})\)")
_KEY_VALUE = re.compile(
    r"""(?<![\w$])(["']?)(error_subcode|errorsubcode|error_sub_code|subcode|error_code|errorcode"""
    r"""|err_code|failedcode|code)\1\s{0,4}(?:=>|[:=])\s{0,4}["']?(\d{1,19})(?!\d|\.\d)""",
    re.IGNORECASE,
)
_PROSE = re.compile(r"(?<![\w$])code\s{1,3}(?:#\s{0,2})?(\d{1,10})(?!\d|\.\d|%)", re.IGNORECASE)
_NOT_A_CODE = frozenset(
    "status response http https exit return country area zip postal post verification otp pin "
    "confirmation security promo promotion coupon discount access activation reference tracking "
    "auth authentication authorization sms qr bar voucher invite referral".split()
)
"""Words before `code` that make the number something else (`status code 502`, `OTP code`)."""
_SUBCODE_KEYS = frozenset(("error_subcode", "errorsubcode", "error_sub_code", "subcode"))
_CODE_FIELDS = ("code", "error_code", "errorCode", "ErrorCode", "failedCode")
_DECODER = json.JSONDecoder()


def codes_in_text(*texts: str) -> tuple[int | None, int | None]:
    """(code, subcode) written in any of `texts` (title, message, details); None when absent.

    The first text holding the strongest kind of evidence wins: a marker in
    the details beats a `code 4` in the title.
    """
    present = [text[:MAX_SCAN] for text in texts if text]
    if not present:
        return None, None
    for text in present:
        if "(#" in text:
            marker = _MARKER.search(text)
            if marker:
                return _fits(int(marker.group(1))), _subcode_in(present)
    for text in present:
        if "{" in text:
            for fragment in fragments(text):
                code, subcode = code_of_document(fragment)
                if code is not None:
                    return code, subcode
    code = subcode = None
    for text in present:
        for match in _KEY_VALUE.finditer(text):
            key = match.group(2).lower()
            if not match.group(1) and _excluded(text, match.start()):
                continue
            value = _fits(int(match.group(3)))
            if key in _SUBCODE_KEYS:
                subcode = subcode if subcode is not None else value
            elif code is None:
                code = value
            if code is not None and subcode is not None:
                return code, subcode
    if code is not None:
        return code, subcode
    for text in present:
        for match in _PROSE.finditer(text):
            if not _excluded(text, match.start()):
                return _fits(int(match.group(1))), subcode
    return None, subcode


def fragments(text: str) -> Iterator[dict[str, Any]]:
    """The objects written inside `text`: JSON first, else a Python/JS object literal.

    Tries the first MAX_FRAGMENT_TRIES openings `{`; JSON is decoded by the
    C scanner (linear), a dict or object dump by the bounded loose parser.
    """
    text = text[:MAX_SCAN]
    start = text.find("{")
    tries = 0
    while start >= 0 and tries < MAX_FRAGMENT_TRIES:
        tries += 1
        value: Any = None
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = parse_loose_object(text, start)
        if isinstance(value, dict) and value:
            yield value
            return
        start = text.find("{", start + 1)


def code_of_document(document: Any) -> tuple[int | None, int | None]:
    """The first code (and subcode beside it) in a parsed fragment, breadth first."""
    queue: list[Any] = [document]
    seen = 0
    while queue and seen < _MAX_WALK:
        node = queue.pop(0)
        seen += 1
        if isinstance(node, dict):
            for key in _CODE_FIELDS:
                code = _as_code(node.get(key))
                if code is not None:
                    return code, _as_code(node.get("error_subcode"))
            queue.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            queue.extend(v for v in node[:100] if isinstance(v, dict | list))
    return None, None


def _subcode_in(texts: list[str]) -> int | None:
    for text in texts:
        for match in _KEY_VALUE.finditer(text):
            if match.group(2).lower() in _SUBCODE_KEYS:
                return _fits(int(match.group(3)))
    return None


def _as_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value <= _MAX_CODE:
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return _fits(int(value.strip()))
    return None


def _excluded(text: str, at: int) -> bool:
    """Whether the word before position `at` makes the number there no code."""
    before = text[max(0, at - 24) : at].rstrip(" \t-_:").split()
    if not before:
        return False
    word = before[-1].strip("\"'([{,;").lower()
    return word in _NOT_A_CODE or word.endswith(("_status", "status_", "http"))


def _fits(code: int) -> int | None:
    return code if code <= _MAX_CODE else None
