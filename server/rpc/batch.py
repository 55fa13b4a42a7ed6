"""Requests of many items (ClassifyStream batches, SummarizeErrors messages), within budget.

Each item is classified (off the loop when heavy: server/rpc/pacing.py),
charged to its request's budget (server/rpc/budget.py), encoded and
counted. In a ClassifyStream batch an item that cannot be read gets its own
INVALID_ARGUMENT; once the batch is past a budget, that item and every
later one get RESOURCE_EXHAUSTED naming the budget, without being
classified, so the answer never grows past the send limit and the caller
can resend just those items in smaller batches. A SummarizeErrors message
past a budget ends the call with that status (its answer has no per-item
place for it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.server.classify.found import InputError
from whatsapp_errors.server.classify.text_budget import TextBudgetError, metering
from whatsapp_errors.server.rich_status import invalid_argument_status
from whatsapp_errors.server.rpc.budget import (
    ESTIMATE_ABOVE,
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_ERRORS,
    OverBudgetError,
    RequestBudget,
    text_exceeded,
)
from whatsapp_errors.server.rpc.pacing import (
    HEAVY_INPUT_BYTES,
    YIELD_EVERY_SECONDS,
    Pacer,
    classify,
    classify_metered,
    off_loop,
    weight,
)
from whatsapp_errors.server.rpc.summary import Summary
from whatsapp_errors.server.rpc.wire import WireEncoder
from whatsapp_errors.v1 import error_catalog_pb2 as pb

if TYPE_CHECKING:
    from whatsapp_errors.server.ops.metrics import Metrics

_Outcome = tuple[list[Decision], bytes] | InputError | OverBudgetError
_STATUS_LIMIT = MAX_MESSAGE_BYTES - 1024
"""Items' statuses may use the room classifications may not (RequestBudget's reserve)."""


class BatchAnswer:
    """The results of one batch so far, and what is left of its budget."""

    def __init__(self, classifier: Classifier, encoder: WireEncoder, metrics: Metrics) -> None:
        self.classifier = classifier
        self.encoder = encoder
        self.metrics = metrics
        self.budget = RequestBudget()
        self.results: list[bytes] = []
        self.refusal: OverBudgetError | None = None
        """Set once the batch is past a budget: every later item gets its status."""

    def work(self, item: pb.ClassifyItem, kind: str | None) -> _Outcome:
        """Classifies and encodes one item; its text is charged to the meter in context."""
        try:
            decisions = classify(self.classifier, item, kind)
        except InputError as exc:
            return exc
        except TextBudgetError as exc:
            return text_exceeded(exc)
        return self.decided(item, decisions)

    def work_metered(self, item: pb.ClassifyItem, kind: str | None) -> _Outcome:
        """`work` with the batch's text meter set (for the heavy-work thread)."""
        with metering(self.budget.meter):
            return self.work(item, kind)

    def decided(self, item: pb.ClassifyItem, decisions: list[Decision]) -> _Outcome:
        """Charges an item's decisions and encodes them, sizing a large answer first."""
        try:
            self.budget.decided(len(decisions))
            self.budget.check_answer(decisions, len(item.id))
        except OverBudgetError as exc:
            return exc
        return decisions, self.encoder.result(item.id, decisions)

    def take(self, item: pb.ClassifyItem, outcome: _Outcome) -> None:
        """Adds an item's outcome to the answer (on the loop: it counts metrics)."""
        if isinstance(outcome, InputError):
            self.metrics.invalid_item()
            status = invalid_argument_status([(outcome.field, outcome.description)])
            self._append(self.encoder.message_result(pb.ClassifyResult(id=item.id, status=status)))
            return
        if isinstance(outcome, OverBudgetError):
            self.refusal = outcome
            self.refuse(item)
            return
        decisions, encoded = outcome
        try:
            self.budget.answered(len(encoded))
        except OverBudgetError as exc:
            self.refusal = exc
            self.refuse(item)
            return
        self.metrics.classified(decisions)
        self.results.append(encoded)

    def refuse(self, item: pb.ClassifyItem) -> None:
        """The item's RESOURCE_EXHAUSTED result, naming the budget the batch went past."""
        assert self.refusal is not None
        result = pb.ClassifyResult(id=item.id, status=self.refusal.status)
        self._append(self.encoder.message_result(result))

    def _append(self, encoded: bytes) -> None:
        """A status result; if even those overflow (huge ids), the whole batch is refused."""
        self.budget.answer_used += len(encoded)
        if self.budget.answer_used > _STATUS_LIMIT:
            raise self.refusal or OverBudgetError(
                "answer_bytes", MAX_MESSAGE_BYTES, "the item statuses alone overflow the answer"
            )
        self.results.append(encoded)

    def finish(self) -> bytes:
        """The ClassifyStreamResponse's bytes."""
        return self.encoder.stream_response(self.results)


def answer_batch(
    classifier: Classifier,
    encoder: WireEncoder,
    items: Sequence[pb.ClassifyItem],
    metrics: Metrics,
) -> bytes:
    """One batch answered on the calling thread, without yielding (in-process probes)."""
    answer = BatchAnswer(classifier, encoder, metrics)
    with metering(answer.budget.meter):
        for item in items:
            if answer.refusal is not None:
                answer.refuse(item)
            else:
                answer.take(item, answer.work(item, item.WhichOneof("input")))
    return answer.finish()


async def answer_batch_paced(
    classifier: Classifier,
    encoder: WireEncoder,
    items: Sequence[pb.ClassifyItem],
    metrics: Metrics,
) -> bytes:
    """One batch answered with the loop kept free: heavy items off it, a yield now and then.

    The usual item (a small body, a code, a text: a few decisions) takes the
    inlined path below, which does what BatchAnswer.work and take do for
    it at a fraction of their calls; a ClassifyStream item costs ~12 us in
    all, so each call here counts. Anything unusual goes through them.
    """
    answer = BatchAnswer(classifier, encoder, metrics)
    budget = answer.budget
    results = answer.results
    classify_input = classifier.classify_input
    encode = encoder.result
    classified = metrics.classified
    clock = time.perf_counter
    due = clock() + YIELD_EVERY_SECONDS
    with metering(budget.meter):
        for item in items:
            if answer.refusal is not None:
                answer.refuse(item)
                continue
            kind = item.WhichOneof("input")
            if kind == "json" or (kind == "payload" and len(item.payload) > HEAVY_INPUT_BYTES):
                answer.take(item, await off_loop(answer.work_metered, item, kind))
            else:
                try:
                    decisions = classify_input(item, kind)
                except InputError as exc:
                    answer.take(item, exc)
                    continue
                except TextBudgetError as exc:
                    answer.take(item, text_exceeded(exc))
                    continue
                count = len(decisions)
                if count > ESTIMATE_ABOVE or budget.errors + count > MAX_REQUEST_ERRORS:
                    answer.take(item, answer.decided(item, decisions))
                else:
                    budget.errors += count
                    encoded = encode(item.id, decisions)
                    if budget.answer_used + len(encoded) > budget.answer_limit:
                        answer.take(item, (decisions, encoded))  # refuses it, names the budget
                    else:
                        budget.answer_used += len(encoded)
                        classified(decisions)
                        results.append(encoded)
            if clock() >= due:  # Pacer, inlined
                await asyncio.sleep(0)
                due = clock() + YIELD_EVERY_SECONDS
    return answer.finish()


async def summarize_items(
    classifier: Classifier,
    items: Sequence[pb.ClassifyItem],
    summary: Summary,
    metrics: Metrics,
) -> None:
    """One SummarizeErrors message's items counted into `summary`; OverBudgetError past budget."""
    budget = RequestBudget()
    pacer = Pacer()
    with metering(budget.meter):
        for item in items:
            kind = item.WhichOneof("input")
            try:
                if weight(item, kind) > HEAVY_INPUT_BYTES:
                    decisions = await off_loop(
                        classify_metered, classifier, item, kind, budget.meter
                    )
                else:
                    decisions = classify(classifier, item, kind)
            except InputError:
                summary.add_invalid()
                metrics.invalid_item()
                continue
            except TextBudgetError as exc:
                raise text_exceeded(exc) from None
            budget.decided(len(decisions))
            summary.add(decisions)
            metrics.classified(decisions)
            await pacer.pause()
