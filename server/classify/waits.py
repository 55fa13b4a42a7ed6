"""Waits written in an error's text: "try again in 2 hours", a timestamp, epoch seconds.

Meta says the wait for some codes is in `error_data.details` (133008,
133009, 138012) without fixing its wording, so this reads the forms a
wait is written in and answers seconds from now, or None. Every pattern
is a bounded sequence with no nested repetition, so reading is linear in
the text; the text is cut at `MAX_TEXT` first.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

MAX_TEXT = 4096
"""Only the start of a details text is read for a wait."""
MAX_WAIT_SECONDS = 7 * 86_400
"""Longer stated waits are capped: no decision schedules past a week."""

_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
}
_DURATION = re.compile(
    r"\b(\d{1,7}(?:\.\d{1,3})?)\s?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?\b"
)
_EPOCH = re.compile(r"\b(1[6-9]\d{8})\b")
_FEW_MINUTES = re.compile(r"\ba few minutes\b", re.IGNORECASE)


def wait_in_text(text: str, now: float | None = None) -> float | None:
    """Seconds to wait that `text` states, from `now` (time.time()); None if it states none.

    A timestamp in the past means "now" (0 s). Several durations add up
    ("1 hour 30 minutes"). The answer is capped at MAX_WAIT_SECONDS.
    """
    if not text:
        return None
    text = text[:MAX_TEXT]
    now = time.time() if now is None else now
    stamp = _ISO.search(text)
    if stamp is not None:
        moment = _iso_seconds(stamp)
        if moment is not None:
            return _cap(moment - now)
    epoch = _EPOCH.search(text)
    if epoch is not None:
        return _cap(int(epoch.group(1)) - now)
    total = 0.0
    for amount, unit in _DURATION.findall(text):
        total += float(amount) * _UNITS[unit.lower()]
    if total:
        return _cap(total)
    if _FEW_MINUTES.search(text):
        return 300.0
    return None


def _iso_seconds(match: re.Match[str]) -> float | None:
    day, clock, zone = match.group(1), match.group(2), match.group(3) or "Z"
    if len(clock) == 5:
        clock += ":00"
    zone = "+00:00" if zone == "Z" else (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        return None
    return moment.astimezone(UTC).timestamp()


def _cap(seconds: float) -> float:
    return min(max(seconds, 0.0), float(MAX_WAIT_SECONDS))
