"""Percentiles and span overlaps, shared by the load generator, the soak and the machine meter.

Kept free of gRPC imports so the machine meter's process starts in ~0.07 s.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """The sample at `fraction` of a sorted list (nearest rank); 0 when empty."""
    if not sorted_samples:
        return 0.0
    index = min(len(sorted_samples) - 1, int(len(sorted_samples) * fraction))
    return sorted_samples[index]


class Spans:
    """Sorted, disjoint (start, end) intervals, asked whether an interval touches any."""

    def __init__(self, spans: Sequence[Sequence[float]], margin: float = 0.0) -> None:
        """`margin` widens every span on both sides (the meter only samples every so often)."""
        ordered = sorted((float(a) - margin, float(b) + margin) for a, b in spans)
        self._starts = [a for a, _ in ordered]
        self._ends = [b for _, b in ordered]
        for i in range(1, len(self._ends)):  # widened spans may nest: keep ends monotonic
            self._ends[i] = max(self._ends[i], self._ends[i - 1])

    def overlaps(self, start: float, end: float) -> bool:
        """Whether [start, end] shares any instant with a span."""
        last = bisect.bisect_right(self._starts, end) - 1
        return last >= 0 and self._ends[last] >= start
