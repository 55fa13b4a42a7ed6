"""ClassifyStream for the asyncio client: the same window, resend and stall rules as sync.

See client/sync_stream.py for the design; the state both share is
client/stream_state.py.
"""

# `timeout` is the stall timeout per batch, as in the sync client, not a local wait:

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import grpc

from whatsapp_errors.client.errors import StreamError
from whatsapp_errors.client.stream_state import Sent, StreamState
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_POLL_SECONDS = 0.1


class AsyncStream:
    """One ClassifyStream, reconnected after a break (StreamState.broken) until all is answered.

    A call this client cancels (the caller stopped reading, a stall, the channel closed)
    raises asyncio.CancelledError or StreamError in grpc.aio, never an RpcError CANCELLED:
    every CANCELLED seen here came from the server or the way to it.
    """

    def __init__(
        self,
        method: Any,
        batches: AsyncIterator[list[pb.ClassifyItem]],
        window: int,
        timeout: float | None,
        metadata: Any,
    ) -> None:
        self.method = method
        self.batches = batches
        self.window = window
        self.timeout = timeout
        self.metadata = metadata
        self.state = StreamState()

    async def results(self) -> AsyncGenerator[pb.ClassifyResult, None]:
        """Every result, in input order."""
        state = self.state
        failures = 0
        while True:
            call = self.method(metadata=self.metadata)
            slots = asyncio.Semaphore(self.window)
            writer = asyncio.create_task(self._write(call, slots))
            got_answer = False
            try:
                while True:
                    response = await self._read(call)
                    if response is grpc.aio.EOF:
                        break
                    state.match(response)
                    slots.release()
                    got_answer = True
                    state.answered += len(response.results)
                    for result in response.results:
                        yield result
            except grpc.RpcError as exc:
                if isinstance(exc, StreamError):  # a stall or a mismatch: this client's verdict
                    raise
                failures = state.broken(exc, got_answer, failures)
                await asyncio.sleep(min(0.1 * 2**failures, 2.0))
                continue
            finally:
                call.cancel()
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
            state.check_end()
            return

    async def _write(self, call: Any, slots: asyncio.Semaphore) -> None:
        """Unanswered batches first, then the rest of the input; then half-closes."""
        state = self.state
        try:
            for sent in list(state.pending):
                await slots.acquire()
                sent.sent_at = time.monotonic()
                await call.write(sent.request)
            while not state.input_done:
                await slots.acquire()
                try:
                    items = await anext(self.batches)
                except StopAsyncIteration:
                    state.input_done = True
                    break
                except Exception as exc:
                    state.input_failed(exc)
                    break
                request = pb.ClassifyStreamRequest(items=items)
                state.pending.append(Sent(request, time.monotonic()))
                await call.write(request)
            await call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError):
            pass  # the call failed: the reader sees why and reconnects or raises

    async def _read(self, call: Any) -> Any:
        """The next response, or StreamError when a sent batch stalls past the timeout."""
        read = asyncio.ensure_future(call.read())
        started = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({read}, timeout=_POLL_SECONDS)
                if done:
                    return read.result()
                pending = self.state.pending
                if (
                    self.timeout is not None
                    and pending
                    and time.monotonic() - max(started, pending[0].sent_at) > self.timeout
                ):
                    raise self.state.stalled(None, self.timeout)
        finally:
            if not read.done():
                read.cancel()
