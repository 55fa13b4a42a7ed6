"""Opens the load generator's connections so that every server worker gets its share.

With `--workers N` the workers share the port through SO_REUSEPORT, and the
kernel picks a worker per connection by a hash of its addresses. Four
connections all land on one of two workers one time in eight; a whole run
of the benchmark then measures one worker and calls it two (seen here: a
2-worker stream run at 103% server CPU). So each connection is opened, the
worker that accepted it is read from /proc (which worker's fds hold the new
established socket), and a connection to a worker that already has its
share is closed and opened again, from a new source port.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

_LOGGER = logging.getLogger(__name__)

ESTABLISHED = "01"
ATTEMPTS_PER_CHANNEL = 20

Channel = TypeVar("Channel")


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def accepted(pids: Sequence[int], port: int) -> set[tuple[int, str]]:
    """(pid, socket inode) of every established connection the `pids` hold on local `port`."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines, None)  # the header
                for line in lines:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                        established.add(inode)
        except OSError:
            continue
    return {(pid, inode) for pid in pids for inode in _socket_inodes(pid) & established}


def _owner(before: set[tuple[int, str]], after: set[tuple[int, str]]) -> int | None:
    new = after - before
    return next(iter(new))[0] if len(new) == 1 else None


async def open_spread(
    count: int,
    pids: Sequence[int],
    port: int,
    open_one: Callable[[int], Awaitable[Channel]],
    close_one: Callable[[Channel], Awaitable[None]],
) -> list[Channel]:
    """`count` ready channels from `open_one(i)`, at most ceil(count / workers) per worker.

    One worker (or pids unknown): no checking. If a worker cannot be told
    (two sockets appeared at once) the channel is kept as it is.
    """
    channels: list[Channel] = []
    if len(pids) < 2:
        for i in range(count):
            channels.append(await open_one(i))
        return channels
    share = math.ceil(count / len(pids))
    per_worker = dict.fromkeys(pids, 0)
    attempts = 0
    held = accepted(pids, port)
    while len(channels) < count:
        channel = await open_one(len(channels) + attempts)
        before, held = held, accepted(pids, port)  # a closed surplus only ever leaves the set
        owner = _owner(before, held)
        attempts += 1
        if owner is not None and per_worker[owner] >= share:
            if attempts < ATTEMPTS_PER_CHANNEL * count:
                await close_one(channel)
                continue
            _LOGGER.warning("could not spread %d connections over %d workers", count, len(pids))
        if owner is not None:
            per_worker[owner] += 1
        channels.append(channel)
    return channels


def port_of(target: str) -> int:
    """The port of a "host:port" target."""
    return int(target.rsplit(":", 1)[1])
