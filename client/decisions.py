"""One decision per failed message: resend it (and when), or what to fix first.

    for wamid, decision in decide_per_message(errors.classify(body)).items():
        if decision.retry:
            schedule_resend(wamid, after=decision.wait)
        else:
            flag(wamid, decision.code, decision.action.label)   # "fix_template", ...

A status webhook carries many statuses and a status many errors, but a caller
acts on messages: it resends one, fixes something first, or gives up on it.
So the errors are grouped by `context.message_id` and each message gets one
decision: the strictest action wins (do not retry beats fix-then-send beats
resend: one error that a resend cannot cure means the resend is wasted) and
among resends the longest wait wins (resending before every limit has passed
fails again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

from whatsapp_errors.client.enums import Actor, RetryStrategy
from whatsapp_errors.client.retry import MAX_BACKOFF, wait_for
from whatsapp_errors.v1 import error_catalog_pb2 as pb

Classified: TypeAlias = (
    pb.ClassifyResponse | pb.ClassifyResult | Iterable[pb.Classification | pb.ClassifyResult]
)
"""A Classify answer, a ClassifyStream result, or any mix of results and classifications."""

_RESEND, _FIX, _GIVE_UP = 0, 1, 2
"""How strict an error's action is; the strictest error of a message decides."""


@dataclass(frozen=True)
class MessageDecision:
    """What to do with one message, decided over every error it failed with."""

    message_id: str
    """The message (wamid); "" for errors that name none (a Graph API error, a bare code)."""
    code: int
    """The code of the error that decided."""
    action: RetryStrategy
    """That error's strategy: RETRY_AFTER, FIX_TEMPLATE, DO_NOT_RETRY, ..."""
    actor: Actor
    """Who must act on that error."""
    retry: bool
    """Whether sending the same message again can succeed without a fix."""
    wait: timedelta | None
    """How long to wait before resending (the longest wait of its errors); None: don't resend."""
    classifications: tuple[pb.Classification, ...]
    """Every error of the message, in payload order."""

    @property
    def codes(self) -> tuple[int, ...]:
        """The codes of every error of the message, in payload order."""
        return tuple(c.error_info.code for c in self.classifications)


def _strictness(info: pb.ErrorInfo) -> int:
    if info.retry_strategy == pb.RETRY_STRATEGY_DO_NOT_RETRY:
        return _GIVE_UP
    return _RESEND if info.retryable else _FIX


def _classifications(answer: Classified) -> Iterable[pb.Classification]:
    if isinstance(answer, pb.ClassifyResponse):
        yield from answer.classifications
        return
    items: Iterable[pb.Classification | pb.ClassifyResult] = (
        [answer] if isinstance(answer, pb.ClassifyResult) else answer
    )
    for item in items:
        if isinstance(item, pb.Classification):
            yield item
        elif item.status.code == 0:  # an unreadable item has nothing to decide on
            yield from item.classifications


def decide(
    classifications: Iterable[pb.Classification],
    attempt: int = 0,
    max_backoff: timedelta = MAX_BACKOFF,
) -> MessageDecision:
    """The decision for one message's errors (`attempt`: resends so far, for backoff).

    Raises ValueError for no errors: a message with none needs no decision.
    """
    errors = tuple(classifications)
    if not errors:
        raise ValueError("no errors to decide on")
    strictest = max(_strictness(c.error_info) for c in errors)
    if strictest == _RESEND:
        waits = [wait_for(c.error_info, c, attempt, max_backoff) for c in errors]
        wait: timedelta | None = max(waits)
        decider = errors[waits.index(max(waits))]
    else:
        wait = None
        decider = next(c for c in errors if _strictness(c.error_info) == strictest)
    info = decider.error_info
    return MessageDecision(
        message_id=decider.context.message_id,
        code=info.code,
        action=RetryStrategy(info.retry_strategy),
        actor=Actor(info.actor),
        retry=strictest == _RESEND,
        wait=wait,
        classifications=errors,
    )


def decide_per_message(
    answer: Classified, attempt: int = 0, max_backoff: timedelta = MAX_BACKOFF
) -> dict[str, MessageDecision]:
    """Message id → its decision, in the order the messages first appear.

    Errors that name no message share the key "". Items of a stream that could
    not be read (a non-OK `status`) have no errors and so no decision.
    """
    grouped: dict[str, list[pb.Classification]] = {}
    for classification in _classifications(answer):
        grouped.setdefault(classification.context.message_id, []).append(classification)
    return {
        message_id: decide(errors, attempt, max_backoff) for message_id, errors in grouped.items()
    }
