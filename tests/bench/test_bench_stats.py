"""The benchmark's own arithmetic: percentiles, slow-span detection and overlap tests.

These decide which numbers the README quotes, so a wrong merge or an
off-by-one overlap would misreport the tail.
"""

from __future__ import annotations

from bench.machine_meter import measure, slow_spans
from bench.stats import Spans, percentile


def test_percentile_is_nearest_rank_and_zero_when_empty() -> None:
    samples = [float(i) for i in range(100)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 99.0
    assert percentile([], 0.99) == 0.0


def _chunks(cpu_by_ms: list[float]) -> list[tuple[float, float, float]]:
    """One chunk per millisecond, 0.1 ms of wall time each."""
    return [(i * 1e-3, i * 1e-3 + 1e-4, cpu) for i, cpu in enumerate(cpu_by_ms)]


def test_slow_spans_merge_neighbours_and_keep_distant_ones_apart() -> None:
    cpu = [1.0] * 100
    cpu[10] = cpu[11] = cpu[13] = 20.0  # 13 is 2 ms after 11: within the merge gap, one span
    cpu[50] = 5.0  # far away: its own span
    cpu[70] = 2.9  # under 3x the median: not slow
    spans = [(round(a, 6), round(b, 6)) for a, b in slow_spans(_chunks(cpu))]
    assert spans == [(0.010, 0.0131), (0.05, 0.0501)]


def test_slow_spans_of_a_steady_cpu_are_empty() -> None:
    assert slow_spans(_chunks([1.0] * 50)) == []
    assert slow_spans([]) == []


def test_spans_overlap_at_edges_inside_and_with_margin() -> None:
    spans = Spans([(2.0, 3.0), (1.0, 1.5)])
    assert spans.overlaps(1.4, 1.45)  # inside the earlier span, given out of order
    assert spans.overlaps(3.0, 4.0)  # touching the end
    assert spans.overlaps(0.0, 1.0)  # touching the start
    assert spans.overlaps(0.0, 10.0)  # around both
    assert not spans.overlaps(1.6, 1.9)  # between them
    assert not spans.overlaps(3.1, 9.0)
    assert Spans([(2.0, 3.0)], margin=0.2).overlaps(3.1, 9.0)
    assert not Spans([]).overlaps(0.0, 1.0)


def test_spans_nested_by_the_margin_still_answer_for_the_long_one() -> None:
    spans = Spans([(0.0, 10.0), (1.0, 1.1)], margin=0.5)
    assert spans.overlaps(5.0, 5.1)  # the second span's end is earlier than the first's


def test_measure_reports_wakeups_and_cpu_speed() -> None:
    result = measure(0.2)
    assert result["samples"] > 20
    assert result["max_ms"] >= result["p99_ms"] >= 0
    assert result["chunk_median_us"] > 0
    assert 0 <= result["slow_pct"] <= 100
    assert isinstance(result["slow_spans"], list)
