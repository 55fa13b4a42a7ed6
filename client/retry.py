"""What a caller does with an answer: resend the message or not, and when.

The server decides (`ErrorInfo.retryable`, `retry_strategy`, `retry_after`);
these helpers only read that decision off any of the messages a caller holds,
so every service reads it the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeAlias

from whatsapp_errors.v1 import error_catalog_pb2 as pb

Answer: TypeAlias = (
    pb.ErrorInfo | pb.Classification | pb.ClassifyResult | pb.ClassifyResponse | pb.GetErrorResponse
)
DEFAULT_BACKOFF = timedelta(seconds=1)
"""First wait for RETRY_WITH_BACKOFF when the entry gives no `retry_after` hint."""
MAX_BACKOFF = timedelta(hours=1)


def _errors(answer: Answer) -> list[tuple[pb.ErrorInfo, pb.Classification | None]]:
    """Each error of the answer, with its classification when it has one."""
    if isinstance(answer, pb.ErrorInfo):
        return [(answer, None)]
    if isinstance(answer, pb.Classification):
        return [(answer.error_info, answer)]
    if isinstance(answer, pb.GetErrorResponse):
        return [(answer.error, None)]
    if isinstance(answer, pb.ClassifyResult) and answer.status.code != 0:
        return []  # the item could not be read: nothing says a resend would work
    return [(c.error_info, c) for c in answer.classifications]


def should_retry(answer: Answer) -> bool:
    """Whether sending the same message again can succeed without fixing anything.

    For a payload with several errors, only when every one of them is
    retryable; for an item that failed to classify, or held no error, never.
    (whatsapp_errors.client.decisions groups the errors by message first.)
    """
    errors = _errors(answer)
    return bool(errors) and all(info.retryable for info, _ in errors)


def wait_for(
    info: pb.ErrorInfo,
    classification: pb.Classification | None = None,
    attempt: int = 0,
    max_backoff: timedelta = MAX_BACKOFF,
) -> timedelta:
    """The wait before resend number `attempt + 1` for one retryable error.

    A wait the input itself stated (`Classification.retry_after`: a Retry-After
    header, "retry in 5 minutes" in the details) comes first; then
    RETRY_WITH_BACKOFF doubles the entry's hint (or 1 s) per attempt, capped at
    `max_backoff`, and any other strategy waits the entry's `retry_after`.
    """
    if attempt < 0:
        raise ValueError(f"attempt must not be negative, got {attempt}")
    if classification is not None and classification.HasField("retry_after"):
        stated: timedelta = classification.retry_after.ToTimedelta()
        return stated
    hint: timedelta = (
        info.retry_after.ToTimedelta() if info.HasField("retry_after") else timedelta(0)
    )
    if info.retry_strategy == pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF:
        base = hint or DEFAULT_BACKOFF
        factor: int = 2 ** min(attempt, 32)
        return min(base * factor, max_backoff)
    return hint


def retry_after(
    answer: Answer, attempt: int = 0, max_backoff: timedelta = MAX_BACKOFF
) -> timedelta | None:
    """How long to wait before resend number `attempt + 1`; None when not to resend.

    Each error waits as `wait_for` says; with several errors the longest wait wins.
    """
    if attempt < 0:
        raise ValueError(f"attempt must not be negative, got {attempt}")
    if not should_retry(answer):
        return None
    return max(wait_for(info, c, attempt, max_backoff) for info, c in _errors(answer))
