"""What one request may have the text matcher read: a budget of characters, metered.

Matching free text takes time linear in the text, and one request may carry
a thousand inputs (a ClassifyStream batch). The RPC layer gives each
request a meter (server/rpc/budget.py) and runs its work under `metering`;
the matcher (server/classify/text_match.py) charges each text it matches
afresh to the meter of the context it runs in, so TextBudgetError stops the
request once its budget is spent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class TextBudgetError(Exception):
    """The request in progress matched more text than its budget allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} characters of error text to match")
        self.limit = limit


class TextMeter:
    """Characters of text one request may have matched afresh (cache hits are free).

    A request's texts are matched deep inside the readers, so the meter
    rides along in a context variable (`metering`) rather than through
    every call, and the matcher charges it before the work.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, chars: int) -> None:
        """Counts `chars`; TextBudgetError once the total is past the limit."""
        self.used += chars
        if self.used > self.limit:
            raise TextBudgetError(self.limit)


ACTIVE_METER: ContextVar[TextMeter | None] = ContextVar("text_meter", default=None)


@contextmanager
def metering(meter: TextMeter) -> Iterator[TextMeter]:
    """Charges every text matched in this context (this task or thread) to `meter`."""
    token = ACTIVE_METER.set(meter)
    try:
        yield meter
    finally:
        ACTIVE_METER.reset(token)
