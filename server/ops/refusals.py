"""Counting the calls an interceptor refuses, and reporting them without a flood.

Auth and admission refuse calls before any handler runs; each refusal is
told to metrics at once, while the log hears of them in summaries, so a
client hammering a full or guarded server cannot fill the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

LOG_EVERY_SECONDS = 10.0
"""Refusals are logged at most this often (with a count), so overload cannot flood the log."""


class Refusals:
    """Calls an interceptor refused for one reason: told to metrics, logged in summaries.

    `refused()` answers how many refusals to report when a warning is due
    (at most every LOG_EVERY_SECONDS), else None; the caller words the line.
    """

    def __init__(self, reason: str, on_refused: Callable[[str], None] | None = None) -> None:
        self.reason = reason
        self._on_refused = on_refused
        self._count = 0
        self._logged_at = -LOG_EVERY_SECONDS

    def refused(self) -> int | None:
        """Counts one refusal; the count since the last report when one is due."""
        if self._on_refused is not None:
            self._on_refused(self.reason)
        self._count += 1
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY_SECONDS:
            return None
        count, self._count, self._logged_at = self._count, 0, now
        return count
