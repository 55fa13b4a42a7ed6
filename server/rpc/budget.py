"""The work one request may cause: errors decided, text matched, answer bytes.

The readers cap one input (server/classify/found.py: MAX_ERRORS per
payload), but a ClassifyStream batch or a SummarizeErrors message holds up
to a thousand inputs, and an answer repeats a ~400-byte ErrorInfo for every
error. So each request (a unary call, one stream batch, one SummarizeErrors
message) gets a `RequestBudget`, charged while the work is done, item by
item: an item past it is refused with RESOURCE_EXHAUSTED naming the budget,
and the answer is never built past the send limit (a stream batch's later
items get that status as their own; a unary call or a SummarizeErrors
message ends with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc

from whatsapp_errors.server.classify.text_budget import TextBudgetError, TextMeter
from whatsapp_errors.server.rich_status import ServiceError, budget_exceeded_status

if TYPE_CHECKING:
    from whatsapp_errors.server.classify.decide import Decision

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Largest request or response message, on both sides (clients use the same)."""
MAX_REQUEST_ERRORS = 20_000
"""Errors one request may have decided: two full payloads (MAX_ERRORS each)."""
MAX_REQUEST_TEXT = 1024 * 1024
"""Characters of error text one request may have matched afresh (repeated texts are cached)."""
ANSWER_RESERVE_BYTES = 1024 * 1024
"""Room kept under the send limit for the statuses of the items refused after the budget."""
ESTIMATE_ABOVE = 64
"""An item with more decisions than this is sized before it is encoded.

Smaller ones are encoded and measured: at most 64 capped contexts, far
below the send limit, so building one before measuring it is harmless.
"""
_PER_DECISION_FRAMING = 48
"""Tags, lengths, match kind, confidence and a wait around each ErrorInfo and context."""


class OverBudgetError(ServiceError):
    """RESOURCE_EXHAUSTED: the request is past one of its budgets."""

    def __init__(self, budget: str, limit: int, what: str) -> None:
        message = (
            f"request budget exceeded: {what} ({budget} budget: {limit}); "
            "send fewer or smaller items per request"
        )
        super().__init__(
            budget_exceeded_status(message, budget, limit), grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        self.budget = budget
        self.limit = limit


def text_exceeded(exc: TextBudgetError) -> OverBudgetError:
    """The matcher's own signal (server/classify/text_budget.py) as the RPC's refusal."""
    return OverBudgetError(
        "text", exc.limit, f"more than {exc.limit} characters of error text to match"
    )


class RequestBudget:
    """What is left of one request's budgets; `meter` goes to the text matcher."""

    __slots__ = ("answer_limit", "answer_used", "errors", "meter")

    def __init__(self, answer_limit: int = MAX_MESSAGE_BYTES - ANSWER_RESERVE_BYTES) -> None:
        self.errors = 0
        self.answer_used = 0
        self.answer_limit = answer_limit
        self.meter = TextMeter(MAX_REQUEST_TEXT)

    def decided(self, count: int) -> None:
        """Charges `count` decisions; OverBudgetError past MAX_REQUEST_ERRORS."""
        self.errors += count
        if self.errors > MAX_REQUEST_ERRORS:
            raise OverBudgetError(
                "errors",
                MAX_REQUEST_ERRORS,
                f"more than {MAX_REQUEST_ERRORS} errors in one request",
            )

    def check_answer(self, decisions: Sequence[Decision], extra: int = 0) -> None:
        """Refuses, before encoding, an item whose answer cannot fit what is left."""
        if len(decisions) > ESTIMATE_ABOVE:
            self._check_room(answer_size(decisions) + extra)

    def answered(self, size: int) -> None:
        """Charges `size` encoded bytes; OverBudgetError if they do not fit."""
        self._check_room(size)
        self.answer_used += size

    def fits(self, size: int) -> bool:
        """True when `size` more bytes stay within the answer's limit."""
        return self.answer_used + size <= self.answer_limit

    def _check_room(self, size: int) -> None:
        if not self.fits(size):
            raise OverBudgetError(
                "answer_bytes",
                self.answer_limit,
                f"the answer would be larger than max ({self.answer_used + size} vs. "
                f"{self.answer_limit} bytes of the {MAX_MESSAGE_BYTES}-byte send limit)",
            )


def answer_size(decisions: Sequence[Decision]) -> int:
    """An upper bound of the encoded size of `decisions` (server/rpc/wire.py frames them).

    Each ErrorInfo is measured once (a payload's errors share a few), each
    context once: the cost of a serialisation, without the bytes.
    """
    sizes: dict[int, int] = {}
    total = 0
    for decision in decisions:
        info = decision.info
        size = sizes.get(id(info))
        if size is None:
            size = sizes[id(info)] = info.ByteSize()
        total += size + decision.raw.context.ByteSize() + _PER_DECISION_FRAMING
    return total
