"""A hiccup meter: how late this machine wakes a process that asked to sleep 1 ms.

A process that does nothing but `sleep(1 ms)` should wake ~0.1 ms late; on a
shared or oversubscribed machine (vCPU steal, another tenant's burst) it
wakes milliseconds late, and so does every server's reply. The load
generator runs this in its own process beside each open-loop scenario, so a
p99 can be read against the machine's own stalls in the same seconds (the
idea of jHiccup). `python -m bench.hiccups SECONDS [DELAY]` waits DELAY seconds (so its own
start-up falls in the scenario's warm-up), then prints one JSON object.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from bench.stats import percentile

_LOGGER = logging.getLogger(__name__)

INTERVAL_S = 0.001


def measure(seconds: float, interval: float = INTERVAL_S) -> dict[str, float]:
    """Sleeps `interval` over and over for `seconds`; percentiles of the oversleep in ms."""
    clock = time.perf_counter
    late: list[float] = []
    end = clock() + seconds
    while True:
        began = clock()
        if began >= end:
            break
        time.sleep(interval)
        late.append(clock() - began - interval)
    late.sort()
    return {
        "samples": len(late),
        "p50_ms": percentile(late, 0.50) * 1e3,
        "p99_ms": percentile(late, 0.99) * 1e3,
        "p999_ms": percentile(late, 0.999) * 1e3,
        "max_ms": late[-1] * 1e3 if late else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    """Measures for SECONDS (default 5) after DELAY (default 0)."""
    args = sys.argv[1:] if argv is None else argv
    seconds = float(args[0]) if args else 5.0
    time.sleep(float(args[1]) if len(args) > 1 else 0.0)
    print(json.dumps(measure(seconds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
