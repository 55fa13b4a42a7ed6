"""Unary calls read their one request message under a deadline, for almost nothing.

grpc.aio reads a unary call's request before it runs any handler, and a
call whose client half-closes without a message, or never sends one, is
then never answered at all: it is invisible to the token check and to the
admission count (both run in handlers) and pins ~20 KiB until the
connection closes. So the admission interceptor (server/ops/admission.py)
serves unary methods as streaming-request ones and reads the message
itself through `ArrivalClock.read`: a call ended without one is answered
INVALID_ARGUMENT, one that sends nothing for REQUEST_TIMEOUT seconds
DEADLINE_EXCEEDED. On the wire a unary call and a one-message stream are
the same.

A timer per call (asyncio.timeout) costs more than the rest of the wrapper
(~18,000 instructions, counted with callgrind), so the clock keeps the
pending reads in a dict and one sweeper task, alive only while reads are
pending, cancels those past their deadline.
"""

from __future__ import annotations

import asyncio
from asyncio import current_task
from time import monotonic
from typing import Any

import grpc

DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds a unary call may take to deliver its request message."""

Context = Any  # grpc.aio.ServicerContext


class ArrivalClock:
    """Reads one request message per call; calls past `timeout` are ended."""

    def __init__(self, timeout: float | None = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.timeout = timeout or None  # 0: no deadline (a half-close is still answered)
        self._pending: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def read(self, context: Context) -> Any:
        """The call's one request message (raw bytes); ends the call if none comes.

        One coroutine, no timer: this runs on every unary call.
        """
        timeout = self.timeout
        if timeout is None:
            raw = await context.read()
        else:
            task: asyncio.Task[Any] = current_task()  # type: ignore[assignment]  # in a task
            pending = self._pending
            pending[task] = monotonic() + timeout
            if self._sweeper is None:
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
            try:
                raw = await context.read()
            except asyncio.CancelledError:
                if task not in self._expired:
                    raise  # the client's cancel, or the server stopping
                self._expired.discard(task)
                task.uncancel()
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no request message within {timeout:g}s (--request-timeout)",
                )
            finally:
                del pending[task]
        if raw is grpc.aio.EOF:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the call ended without a request message"
            )
        return raw

    async def _sweep(self) -> None:
        """Cancels reads past their deadline; returns when none is pending."""
        assert self.timeout is not None
        try:
            while self._pending:
                await asyncio.sleep(min(1.0, self.timeout / 4))
                now = monotonic()
                for task, due in list(self._pending.items()):
                    if due <= now and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            self._sweeper = None
