"""SummarizeErrors' report: a whole broadcast's decisions, counted.

Kept as plain counters while the stream runs, turned into the response once
at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.v1 import error_catalog_pb2 as pb


class Summary:
    """Counts for SummarizeErrors, kept as plain counters until the end."""

    def __init__(self) -> None:
        self.total_items = 0
        self.invalid_items = 0
        self.items_without_errors = 0
        self.retryable = 0
        self.category: Counter[int] = Counter()
        self.strategy: Counter[int] = Counter()
        self.code: Counter[int] = Counter()
        self.match_kind: Counter[int] = Counter()
        self.actor: Counter[int] = Counter()

    def add_invalid(self) -> None:
        """One item that could not be read."""
        self.total_items += 1
        self.invalid_items += 1

    def add(self, decisions: Sequence[Decision]) -> None:
        """One item's decisions."""
        self.total_items += 1
        if not decisions:
            self.items_without_errors += 1
        for decision in decisions:
            info = decision.info
            self.category[info.category] += 1
            self.strategy[info.retry_strategy] += 1
            self.code[info.code] += 1
            self.match_kind[decision.match_kind] += 1
            self.actor[info.actor] += 1
            self.retryable += info.retryable

    def to_message(self, version: str) -> pb.SummarizeErrorsResponse:
        """The report."""
        return pb.SummarizeErrorsResponse(
            total_items=self.total_items,
            invalid_items=self.invalid_items,
            items_without_errors=self.items_without_errors,
            total_errors=sum(self.code.values()),
            retryable_errors=self.retryable,
            by_category=_counts(self.category, pb.Category.Name),
            by_retry_strategy=_counts(self.strategy, pb.RetryStrategy.Name),
            by_code=_counts(self.code, str),
            by_match_kind=_counts(self.match_kind, pb.MatchKind.Name),
            by_actor=_counts(self.actor, pb.Actor.Name),
            catalog_version=version,
        )


def _counts(counter: Counter[int], name: Callable[[Any], str]) -> list[pb.Count]:
    return [pb.Count(key=name(key), count=count) for key, count in counter.most_common()]
