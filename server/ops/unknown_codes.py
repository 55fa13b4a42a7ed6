"""A bounded tally of the codes this server met that no catalog entry knows.

Operators learn what to add through `--overlay` from what real traffic
sends. The tally keeps, per code, how often it came, when it was first and
last seen and the error title as sent (capped, long digit runs masked, so
no phone number or id is kept); never payload text. It holds at most
`capacity` codes: past twice that it keeps the most frequent, so a flood of
distinct junk codes costs bounded memory and amortised constant time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from whatsapp_errors.v1 import error_catalog_pb2 as pb

if TYPE_CHECKING:
    from whatsapp_errors.server.classify.decide import Decision

MAX_TITLE_CHARS = 120
DEFAULT_CAPACITY = 1000
_DIGIT_RUN = re.compile(r"\d{5,}")
"""Five digits or more: could be a phone number or an id, never kept."""


@dataclass(slots=True)
class Sighting:
    """One unknown code's count, first and last sighting, and latest title."""

    count: int
    first_seen: float
    last_seen: float
    title: str


class UnknownCodes:
    """The tally; fed with every item's decisions, on the event-loop thread."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.codes: dict[int, Sighting] = {}
        self.dropped = 0
        """Distinct codes pruned away (so `distinct` stays a lower bound)."""

    def saw(self, decisions: Sequence[Decision]) -> None:
        """Counts the decisions that no catalog entry answered and that carried a code."""
        for decision in decisions:
            if decision.info.source != pb.SOURCE_INFERRED:
                continue
            code = decision.raw.code
            if code is None:
                continue
            self.record(code, decision.raw.title)

    def record(self, code: int, title: str) -> None:
        """One error carrying `code`, unknown to the catalog."""
        now = time.time()
        seen = self.codes.get(code)
        if seen is None:
            self.codes[code] = Sighting(1, now, now, _clean(title))
            if len(self.codes) > 2 * self.capacity:
                self._prune()
            return
        seen.count += 1
        seen.last_seen = now
        if title:
            seen.title = _clean(title)

    @property
    def distinct(self) -> int:
        """Distinct unknown codes met (exact until pruning, a lower bound after)."""
        return len(self.codes) + self.dropped

    def top(self, limit: int) -> list[tuple[int, Sighting]]:
        """The `limit` most frequent codes, most frequent first (ties: lower code first)."""
        ranked = sorted(self.codes.items(), key=lambda item: (-item[1].count, item[0]))
        return ranked[:limit]

    def to_message(self, limit: int, version: str) -> pb.ListUnknownCodesResponse:
        """The ListUnknownCodes answer."""
        return pb.ListUnknownCodesResponse(
            codes=[
                pb.UnknownCode(
                    code=code,
                    count=seen.count,
                    first_seen=_timestamp(seen.first_seen),
                    last_seen=_timestamp(seen.last_seen),
                    title=seen.title,
                )
                for code, seen in self.top(limit)
            ],
            distinct_codes=self.distinct,
            catalog_version=version,
        )

    def _prune(self) -> None:
        kept = dict(self.top(self.capacity))
        self.dropped += len(self.codes) - len(kept)
        self.codes = kept


def _clean(title: str) -> str:
    return _DIGIT_RUN.sub("…", title[:MAX_TITLE_CHARS])


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
