"""Reads a code as it was sent: a number, a numeric string, a BSP's name or sentinel.

Meta sends integers; BSPs and tools send `"131050"`, `131050.0`,
`"TOO_MANY_REQUESTS"`, `"E400"` or a sentinel such as `-1`. Each is kept as
what it is (a numeric code, or a symbolic one) instead of being refused;
only values that are no code at all (booleans, fractions, prose, arrays,
numbers past 64 bits) are an InputError naming the field.
"""

from __future__ import annotations

from typing import Any

from whatsapp_errors.server.classify.found import MAX_CODE, InputError, show

MAX_SYMBOL = 64
"""Longest symbolic code kept: BSP codes are short names, anything longer is prose."""


def read_code(value: Any, field: str) -> tuple[int | None, str]:
    """A code as sent: (the numeric code or None, the symbolic code or "").

    Numbers (int, integral float, digit string) are codes; a negative one is
    a BSP's sentinel ("-1"), kept as a symbolic code; a name such as
    "TOO_MANY_REQUESTS" or "E400" is a symbolic code. Anything else
    (booleans, fractions, numbers past 64 bits, prose, arrays) is an
    InputError naming `field`.
    """
    if value is None:
        return None, ""
    if isinstance(value, bool):
        raise InputError(field, f"a code must be a number or a name, got {show(value)}")
    if isinstance(value, int):
        return _number(value, field)
    if isinstance(value, float):
        if not value.is_integer():
            raise InputError(field, f"a code must be a whole number, got {value!r}")
        return _number(int(value), field)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None, ""
        digits = text[1:] if text[0] in "+-" else text
        if digits.isascii() and digits.isdigit():
            return _number(int(text), field)
        if _is_symbol(text):
            return None, text
        raise InputError(
            field,
            "a code must be digits or a name (a letter, then letters, digits, _ - . :), "
            f"got {show(value)}",
        )
    raise InputError(field, f"a code must be a number, got {type(value).__name__}")


def parse_code(value: Any, field: str) -> int | None:
    """The numeric part of `read_code`: None for absent, symbolic and sentinel codes."""
    return read_code(value, field)[0]


def _number(code: int, field: str) -> tuple[int | None, str]:
    if code > MAX_CODE or code < -MAX_CODE:
        raise InputError(field, f"a code must fit in 64 bits, got {show(code)}")
    if code < 0:
        return None, str(code)
    return code, ""


def _is_symbol(text: str) -> bool:
    """A BSP code name: starts with a letter, then letters, digits and _ - . : only."""
    if len(text) > MAX_SYMBOL or not text.isascii() or not text[0].isalpha():
        return False
    return all(c.isalnum() or c in "_-.:" for c in text)
