"""Reads what the HTTP response around a failure said: its status and how long to wait.

A backend that forwards a raw body often also has the response it came
in: a 429 with `Retry-After: 30`, or Meta's usage headers saying when
throttling ends. The wait is parsed here, once, into seconds; what it does
to a decision (never making a do-not-retry code retryable) is decide()'s.

Sources of a wait, all in seconds once read:
- `Retry-After`: delta-seconds or an HTTP date (RFC 9110 section 10.2.3);
- `X-Business-Use-Case-Usage`: `{"<id>": [{..., "estimated_time_to_regain_access": M}]}`;
- `X-App-Usage` (and `X-Ad-Account-Usage`): `{..., "estimated_time_to_regain_access": M}`;
  Meta gives M in minutes. The longest wait of all sources wins.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from whatsapp_errors.server.classify.found import FoundError, InputError

MAX_WAIT_SECONDS = 31 * 86_400
"""Longest wait believed: a header asking for more is capped here."""
MAX_HEADER_CHARS = 64 * 1024
"""Longest usage header parsed (the JSON is a few hundred bytes in practice)."""
_USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")
_REGAIN = "estimated_time_to_regain_access"


def lower_headers(headers: Any) -> dict[str, str]:
    """Header names lowercased, from a mapping or a list of `{name, value}` (Make's form)."""
    out: dict[str, str] = {}
    if isinstance(headers, Mapping):
        pairs: Iterable[tuple[Any, Any]] = headers.items()
    elif isinstance(headers, list):
        pairs = (
            (item.get("name"), item.get("value")) for item in headers if isinstance(item, dict)
        )
    else:
        return out
    for name, value in pairs:
        if isinstance(value, list) and value:  # n8n and Node give repeated headers as arrays
            value = value[0]
        if isinstance(name, str) and isinstance(value, str | int | float):
            out[name.strip().lower()] = str(value)
    return out


def wait_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The longest wait the (lowercased) headers ask for, in seconds; None when none."""
    waits = [retry_after(headers.get("retry-after", ""), now)]
    for name in _USAGE_HEADERS:
        waits.append(regain_access(headers.get(name, "")))
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def retry_after(value: str, now: float | None = None) -> float | None:
    """A Retry-After value in seconds: delta-seconds or an HTTP date; None when unreadable."""
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(min(int(text), MAX_WAIT_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return float(min(max(delta, 0.0), MAX_WAIT_SECONDS))


def regain_access(value: str) -> float | None:
    """Seconds until Meta lifts throttling, from a usage header's JSON; None when it says none."""
    if not value or len(value) > MAX_HEADER_CHARS:
        return None
    try:
        usage = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    minutes = [_minutes(item) for item in _usage_items(usage)]
    longest = max((m for m in minutes if m is not None), default=None)
    if not longest:
        return None
    return float(min(longest * 60, MAX_WAIT_SECONDS))


def _usage_items(usage: Any) -> Iterable[Any]:
    """X-App-Usage is one object; X-Business-Use-Case-Usage maps ids to lists of them."""
    if not isinstance(usage, dict):
        return ()
    if _REGAIN in usage:
        return (usage,)
    items: list[Any] = []
    for entries in usage.values():
        if isinstance(entries, list):
            items.extend(entries[:100])
        elif isinstance(entries, dict):
            items.append(entries)
    return items


def _minutes(item: Any) -> float | None:
    if not isinstance(item, dict):
        return None
    value = item.get(_REGAIN)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None


def http_status_of(value: Any) -> int:
    """An HTTP status as bodies carry it (400 or "400"); 0 when it is not one."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and value.strip().isdigit() and value.isascii():
        value = int(value.strip())
    if isinstance(value, int) and 100 <= value <= 599:
        return value
    return 0


def apply_transport(
    found: list[FoundError], status: int, wait: float | None, *, fill_only: bool = True
) -> None:
    """Gives every error the response's status and wait, where it has none of its own."""
    for error in found:
        if status and not error.http_status:
            error.http_status = status
            error.context.http_status = status
        if wait is not None and (error.retry_after_seconds is None or not fill_only):
            error.retry_after_seconds = wait


def read_transport(transport: Any, field: str = "transport") -> tuple[int, float | None]:
    """(status, wait) of a request's Transport message; InputError for a status out of range."""
    status = int(transport.http_status)
    if status and not 100 <= status <= 599:
        raise InputError(f"{field}.http_status", f"not an HTTP status: {status}")
    headers = lower_headers(dict(transport.headers)) if transport.headers else {}
    return status, wait_seconds(headers) if headers else None
