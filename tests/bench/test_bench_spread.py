"""The load generator's connections reach every worker of a multi-worker server.

The kernel picks a SO_REUSEPORT worker per connection by hash, so without
the spread four connections sometimes all land on one of two workers and a
"2 workers" row measures one.
"""

from __future__ import annotations

import asyncio
import time

from bench import loadgen, procs, spread


def _per_worker(pids: list[int], port: int) -> list[int]:
    held = spread.accepted(pids, port)
    return sorted(sum(1 for pid, _ in held if pid == worker) for worker in pids)


def _wait_all_closed(pids: list[int], port: int) -> None:
    deadline = time.monotonic() + 10
    while spread.accepted(pids, port) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_channels_spread_evenly_over_two_workers() -> None:
    server = procs.start_server("service", 2)
    try:
        pids, port = server.pids(), spread.port_of(server.target)
        assert len(pids) == 2

        async def open_and_count() -> list[list[int]]:
            counts = []
            for attempt in range(3):
                channels = await loadgen.aio_channels(server.target, 4, pids, f"t{attempt}")
                counts.append(_per_worker(pids, port))
                for channel in channels:
                    await channel.close()
                _wait_all_closed(pids, port)
            return counts

        assert asyncio.run(open_and_count()) == [[2, 2]] * 3
        channels = loadgen.sync_channels(server.target, 3, pids, "sync")
        assert _per_worker(pids, port) == [1, 2]
        for channel in channels:
            channel.close()
    finally:
        server.stop()


def test_accepted_sees_nothing_for_an_idle_port() -> None:
    assert spread.accepted([1], procs.free_port()) == set()
