"""How much slower the same work runs after this machine's CPU has idled.

A lone gRPC call costs the server 2-4x the CPU of a call in a busy loop (the
h2load floor, README "Performance"), in grpc.aio and in grpcio's sync server
alike. This shows the machine's part with no gRPC at all: it runs the machine
meter's fixed chunk of pure Python (bench/machine_meter.py) back to back, then after
sleeping 1, 2 and 10 ms before each one, and reports the median thread CPU
time per chunk. On this project's VMs the chunk after 10 ms asleep took 1.9-3.4x
its back-to-back time: caches and the vCPU go cold while it idles, so a quiet
server pays more per call than a busy one.

`python -m bench.probes.warmth [SAMPLES]` prints one line per gap and one JSON object.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence

from bench.machine_meter import chunk

_LOGGER = logging.getLogger(__name__)

GAPS_S = (0.0, 0.001, 0.002, 0.010)
"""Sleeps before each chunk: none (hot), then as between calls at 1,000, 500 and 100 calls/s."""


def measure(gaps: Sequence[float] = GAPS_S, samples: int = 300) -> dict[str, float]:
    """Median thread CPU µs per chunk after each gap, keyed by the gap in ms ("0", "1", ...)."""
    cpu_clock = time.thread_time
    chunk()  # the first run pays for imports and the bytecode cache
    result: dict[str, float] = {}
    for gap in gaps:
        costs = []
        for _ in range(samples):
            if gap:
                time.sleep(gap)
            began = cpu_clock()
            chunk()
            costs.append(cpu_clock() - began)
        result[f"{gap * 1e3:g}"] = statistics.median(costs) * 1e6
    return result


def main(argv: list[str] | None = None) -> int:
    """Prints the median chunk cost after each gap, and its ratio to back to back."""
    args = sys.argv[1:] if argv is None else argv
    result = measure(samples=int(args[0]) if args else 300)
    hot = result["0"] or 1e-9
    for gap_ms, cost in result.items():
        print(f"after {gap_ms:>3} ms asleep: {cost:7.1f} µs per chunk ({cost / hot:.2f}x)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
