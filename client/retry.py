"""What a caller does with an answer: resend the message or not, and when.

The server decides (`ErrorInfo.retryable`, `retry_strategy`, `retry_after`);
these helpers only read that decision off any of the messages a caller holds,
so every service reads it the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeAlias

from whatsapp.errors.v1 import error_catalog_pb2 as pb

Answer: TypeAlias = (
    pb.ErrorInfo | pb.Classification | pb.ClassifyResult | pb.ClassifyResponse | pb.GetErrorResponse
)
DEFAULT_BACKOFF = timedelta(seconds=1)
"""First wait for RETRY_WITH_BACKOFF when the entry gives no `retry_after` hint."""
MAX_BACKOFF = timedelta(hours=1)


def _infos(answer: Answer) -> list[pb.ErrorInfo]:
    if isinstance(answer, pb.ErrorInfo):
        return [answer]
    if isinstance(answer, pb.Classification):
        return [answer.error_info]
    if isinstance(answer, pb.GetErrorResponse):
        return [answer.error]
    if isinstance(answer, pb.ClassifyResult) and answer.status.code != 0:
        return []  # the item could not be read: nothing says a resend would work
    return [c.error_info for c in answer.classifications]


def should_retry(answer: Answer) -> bool:
    """Whether sending the same message again can succeed without fixing anything.

    For a payload with several errors, only when every one of them is
    retryable; for an item that failed to classify, or held no error, never.
    """
    infos = _infos(answer)
    return bool(infos) and all(info.retryable for info in infos)


def retry_after(
    answer: Answer, attempt: int = 0, max_backoff: timedelta = MAX_BACKOFF
) -> timedelta | None:
    """How long to wait before resend number `attempt + 1`; None when not to resend.

    RETRY_AFTER waits the entry's `retry_after`; RETRY_WITH_BACKOFF doubles
    its hint (or 1 s) per attempt, capped at `max_backoff`. With several
    errors the longest wait wins.
    """
    if attempt < 0:
        raise ValueError(f"attempt must not be negative, got {attempt}")
    if not should_retry(answer):
        return None
    waits: list[timedelta] = []
    for info in _infos(answer):
        hint = info.retry_after.ToTimedelta() if info.HasField("retry_after") else timedelta(0)
        if info.retry_strategy == pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF:
            base = hint or DEFAULT_BACKOFF
            waits.append(min(base * (2 ** min(attempt, 32)), max_backoff))
        else:
            waits.append(hint)
    return max(waits)
