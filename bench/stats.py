"""Percentiles of latency samples, shared by the load generator, the soak and the hiccup meter.

Kept free of gRPC imports so the hiccup meter's process starts in ~0.07 s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

_LOGGER = logging.getLogger(__name__)


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """The sample at `fraction` of a sorted list (nearest rank); 0 when empty."""
    if not sorted_samples:
        return 0.0
    index = min(len(sorted_samples) - 1, int(len(sorted_samples) * fraction))
    return sorted_samples[index]
