"""Keeping the event loop free while requests are classified.

Every call shares one event loop, so a request that computes for a second
makes health probes wait that second. Two rules keep it free:

- Heavy inputs run off the loop. One item's work cannot be split (a reader
  walks its whole payload), so an input over HEAVY_INPUT_BYTES is
  classified in a single worker thread; the loop thread gets the GIL back
  within the switch interval (server/__main__.py sets it). One thread, so
  heavy requests queue behind each other instead of multiplying memory.
- Loops over items yield. A batch checks the clock between items and
  yields to the loop once it has worked YIELD_EVERY_SECONDS, so other calls
  run and a cancelled call stops at the next item (grpc.aio cancels the
  handler's task, which takes effect at an await).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.server.classify.found import MAX_ERRORS, InputError
from whatsapp_errors.server.classify.text_budget import TextBudgetError, TextMeter, metering
from whatsapp_errors.server.rpc.budget import RequestBudget, text_exceeded
from whatsapp_errors.server.rpc.struct_input import struct_document

HEAVY_INPUT_BYTES = 4096
"""Inputs larger than this are classified off the loop.

A 4 KiB payload holds at most ~2,000 bare codes (a few milliseconds of
work); a 20 KB one can hold 10,000, whose decisions take tens of ms.
"""
HEAVY_ALWAYS = HEAVY_INPUT_BYTES + 1
MAX_PAYLOAD_VALUES = 250_000
"""Most JSON values one payload may hold (a full status webhook per error: ~25 each)."""
COUNT_VALUES_ABOVE = 256 * 1024
"""Smaller bodies cannot hold MAX_PAYLOAD_VALUES values; they are not counted."""
YIELD_EVERY_SECONDS = 0.002
"""Work a loop over items does before it lets other calls run."""

_T = TypeVar("_T")
_executor: ThreadPoolExecutor | None = None


def weight(message: Any, kind: str | None) -> int:
    """Bytes of input `message` (a ClassifyRequest or ClassifyItem) carries to read."""
    if kind == "payload":
        return len(message.payload)
    if kind == "json":
        return HEAVY_ALWAYS  # its size would cost a serialisation to learn; always off the loop
    if kind == "text":
        return len(message.text)
    return 0


def classify(classifier: Classifier, message: Any, kind: str | None) -> list[Decision]:
    """The decisions for `message`'s input; `json` read as its payload would be.

    Everything but `json` goes through the classifier's own dispatch
    (Classifier.classify_input); `json` is converted here, bounded and with
    whole numbers as ints (server/rpc/struct_input.py), then read as a
    parsed body with the message's transport, as classify_input would.
    """
    if kind == "json":
        transport = message.transport if message.HasField("transport") else None
        return classifier.classify_document(struct_document(message.json), "json", transport)
    if kind == "payload" and len(payload := message.payload) > COUNT_VALUES_ABOVE:
        check_value_count(payload)
    return classifier.classify_input(message, kind)


def check_value_count(payload: bytes, field: str = "payload") -> None:
    """InputError for a body of more than MAX_PAYLOAD_VALUES JSON values.

    The JSON parser builds every value in one C call that holds the GIL: a
    4 MiB body of a million `{}` takes ~100 ms of it, a stall for every
    call. Commas, `{` and `[` bound the values from above (a value is an
    element after a comma, or a container), and counting bytes costs ~1 ms.
    """
    values = payload.count(b",") + payload.count(b"{") + payload.count(b"[")
    if values > MAX_PAYLOAD_VALUES:
        raise InputError(
            field,
            f"more than {MAX_PAYLOAD_VALUES} JSON values (commas, objects and arrays: "
            f"{values}); a body with {MAX_ERRORS} errors needs far fewer",
        )


def classify_metered(
    classifier: Classifier, message: Any, kind: str | None, meter: TextMeter
) -> list[Decision]:
    """`classify` with its text matching charged to `meter` (in this thread)."""
    with metering(meter):
        return classify(classifier, message, kind)


async def off_loop(function: Callable[..., _T], *args: Any) -> _T:
    """Runs `function(*args)` in the heavy-work thread and waits for it.

    A cancel of the waiting call returns at once; the thread finishes the
    one item it holds and takes no more from that call.
    """
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heavy-input")
    return await asyncio.get_running_loop().run_in_executor(_executor, function, *args)


class Pacer:
    """Yields to the loop between items once YIELD_EVERY_SECONDS of work has passed."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due = time.perf_counter() + YIELD_EVERY_SECONDS

    async def pause(self) -> None:
        """Call between items: a clock read, and now and then a turn of the loop."""
        if time.perf_counter() >= self._due:
            await asyncio.sleep(0)
            self._due = time.perf_counter() + YIELD_EVERY_SECONDS


async def classify_request(
    classifier: Classifier, request: Any, kind: str | None
) -> list[Decision]:
    """A unary request's decisions, within one request's budget.

    An input up to HEAVY_INPUT_BYTES is read on the loop with no budget to
    charge: 4 KiB can hold neither 20,000 errors nor 1 MiB of text, and its
    answer stays megabytes under the send limit. A larger one is read in the
    heavy-work thread, its text metered, and its answer sized before it is
    encoded.
    """
    if weight(request, kind) <= HEAVY_INPUT_BYTES:
        return classify(classifier, request, kind)
    budget = RequestBudget()
    try:
        decisions = await off_loop(classify_metered, classifier, request, kind, budget.meter)
    except TextBudgetError as exc:
        raise text_exceeded(exc) from None
    budget.decided(len(decisions))
    budget.check_answer(decisions)
    return decisions
