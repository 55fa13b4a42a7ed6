"""A machine meter: how late this machine wakes a sleeper, and how fast its CPUs run.

Two things a server's tail latency can owe to the machine rather than to the
server, measured in a separate process beside each open-loop scenario:

- wake-up lateness: a process that sleeps 1 ms should wake ~0.1 ms late; on
  an oversubscribed machine it wakes milliseconds late (the idea of jHiccup);
- CPU speed: after each wake it runs a fixed chunk of pure-Python work and
  times it in its own thread CPU time, which excludes time the guest kernel
  ran someone else. A chunk that takes several times its median CPU time ran
  on a vCPU the host slowed down. This catches what neither steal nor
  wake-up lateness shows: on this project's VMs, both vCPUs at once run
  10-20x slower for 1-70 ms spans, ~3.5% of the time, while /proc/stat
  reports no steal and a sleeper still wakes on time.

The slow spans are reported as CLOCK_MONOTONIC intervals (`time.perf_counter`
on Linux), so the load generator can tell which of its calls overlapped one.
`python -m bench.machine_meter SECONDS [DELAY]` waits DELAY seconds (so its own
start-up falls in the scenario's warm-up), then prints one JSON object.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import Spans, percentile

_ROOT = Path(__file__).resolve().parent.parent
"""The checkout, where `-m bench.machine_meter` imports from."""

INTERVAL_S = 0.001
CHUNK_LOOPS = 400
"""The fixed work per wake: ~30 µs of CPU here, ~3% of one core at 1 kHz."""
SLOW_FACTOR = 3.0
"""A chunk this many times its median CPU time ran on a slowed-down CPU."""
MERGE_GAP_S = 0.002
"""Slow chunks closer than this (two wakes) form one slow span."""


def chunk() -> int:
    """The fixed pure-Python work the meter times (CHUNK_LOOPS multiply-adds)."""
    total = 0
    for i in range(CHUNK_LOOPS):
        total += i * i
    return total


def slow_spans(
    chunks: Sequence[tuple[float, float, float]], factor: float = SLOW_FACTOR
) -> list[tuple[float, float]]:
    """Merged (start, end) spans of the chunks whose CPU time exceeds `factor` x the median.

    `chunks` are (wall start, wall end, thread CPU seconds) per chunk.
    """
    if not chunks:
        return []
    threshold = factor * statistics.median(cpu for _, _, cpu in chunks)
    spans: list[tuple[float, float]] = []
    for start, end, cpu in chunks:
        if cpu <= threshold:
            continue
        if spans and start - spans[-1][1] <= MERGE_GAP_S:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def measure(seconds: float, interval: float = INTERVAL_S) -> dict[str, Any]:
    """Sleeps `interval` then runs one chunk, over and over for `seconds`."""
    clock, cpu_clock = time.perf_counter, time.thread_time
    late: list[float] = []
    chunks: list[tuple[float, float, float]] = []
    began_all = clock()
    end = began_all + seconds
    while True:
        began = clock()
        if began >= end:
            break
        time.sleep(interval)
        woke = clock()
        late.append(woke - began - interval)
        cpu0 = cpu_clock()
        chunk()
        chunks.append((woke, clock(), cpu_clock() - cpu0))
    late.sort()
    spans = slow_spans(chunks)
    elapsed = max(clock() - began_all, 1e-9)
    cpu = sorted(c for _, _, c in chunks)
    median_cpu = percentile(cpu, 0.50) or 1e-12
    return {
        "samples": len(late),
        "p50_ms": percentile(late, 0.50) * 1e3,
        "p99_ms": percentile(late, 0.99) * 1e3,
        "p999_ms": percentile(late, 0.999) * 1e3,
        "max_ms": late[-1] * 1e3 if late else 0.0,
        "chunk_median_us": median_cpu * 1e6,
        "slowdown_max": (cpu[-1] / median_cpu) if cpu else 0.0,
        "slow_pct": 100 * sum(b - a for a, b in spans) / elapsed,
        "slow_longest_ms": max((b - a for a, b in spans), default=0.0) * 1e3,
        "slow_spans": [[round(a, 6), round(b, 6)] for a, b in spans],
    }


class Beside:
    """The meter in its own process beside a scenario, started before the load begins."""

    def __init__(self, seconds: float, delay: float) -> None:
        command = [sys.executable, "-m", "bench.machine_meter", f"{seconds:.3f}", f"{delay:.3f}"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=_ROOT)

    def result(self, timeout: float | None = None) -> tuple[dict[str, Any], Spans]:
        """The meter's report and its slow spans (widened by one wake interval)."""
        output, _ = self._process.communicate(timeout=timeout)
        report: dict[str, Any] = json.loads(output)
        return report, Spans(report["slow_spans"], margin=INTERVAL_S)

    def kill(self) -> None:
        """Stops the meter if it is still running (a failed scenario)."""
        self._process.kill()


def main(argv: list[str] | None = None) -> int:
    """Measures for SECONDS (default 5) after DELAY (default 0)."""
    args = sys.argv[1:] if argv is None else argv
    seconds = float(args[0]) if args else 5.0
    time.sleep(float(args[1]) if len(args) > 1 else 0.0)
    print(json.dumps(measure(seconds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
