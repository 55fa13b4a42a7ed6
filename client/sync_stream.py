"""ClassifyStream for the sync client: batches out, results back in order, bounded memory.

At most `window` batches are out at once: the request iterator (which gRPC
drains on its own thread) waits for a free slot before it pulls the next
batch from the caller's input, so a 10 GB input never sits in memory.
Every sent batch stays in `pending` until its answer arrives; when the
stream breaks on the way (UNAVAILABLE: the server stopped, a replica went
away; a proxy's RST_STREAM for a dead upstream; a CANCELLED this client did
not cause: client/stream_state.py `resendable`), a new stream resends the
unanswered batches first, so no item is lost or answered twice, and
round-robin (or the proxy) sends it to a replica that is up.

A stream has no overall deadline (a big input legitimately takes minutes);
instead a watchdog cancels it when a sent batch has gone unanswered for
`timeout` seconds while the caller was waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import grpc

from whatsapp_errors.client.errors import StreamError
from whatsapp_errors.client.stream_state import DEFAULT_WINDOW, Sent, StreamState
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_POLL_SECONDS = 0.1


class Attempt:
    """One ClassifyStream call: its request iterator, window and stall watchdog."""

    def __init__(
        self,
        state: StreamState,
        batches: Iterator[Sequence[pb.ClassifyItem]],
        window: int,
        timeout: float | None,
    ) -> None:
        self.state = state
        self.batches = batches
        self.slots = threading.Semaphore(window)
        self.closed = threading.Event()
        self.timeout = timeout
        self.waiting_since: float | None = None
        self.stalled = False
        self.got_answer = False
        self.call: Any = None

    def requests(self) -> Iterator[pb.ClassifyStreamRequest]:
        """Unanswered batches first (after a reconnect), then the rest of the input."""
        for sent in list(self.state.pending):
            if not self._slot():
                return
            sent.sent_at = time.monotonic()
            yield sent.request
        while not self.state.input_done and self._slot():
            try:
                items = next(self.batches)
            except StopIteration:
                self.state.input_done = True
                return
            except BaseException as exc:
                self.state.input_failed(exc)
                return
            request = pb.ClassifyStreamRequest(items=items)
            self.state.pending.append(Sent(request, time.monotonic()))
            yield request

    def _slot(self) -> bool:
        while not self.closed.is_set():
            if self.slots.acquire(timeout=_POLL_SECONDS):
                return True
        return False

    def answered(self) -> None:
        """One batch answered: its slot is free again."""
        self.got_answer = True
        self.slots.release()

    def watch(self) -> None:
        """Cancels the call when a sent batch waits `timeout` s while the caller waits."""
        if self.timeout is None:
            return
        interval = min(_POLL_SECONDS * 2, self.timeout / 4)
        while not self.closed.wait(interval):
            since = self.waiting_since
            try:
                oldest = self.state.pending[0].sent_at
            except IndexError:
                continue
            if since is not None and time.monotonic() - max(since, oldest) > self.timeout:
                self.stalled = True
                self.call.cancel()
                return

    def close(self) -> None:
        """Stops the request iterator and the watchdog."""
        self.closed.set()


def classify_stream(
    method: Any,
    batches: Iterator[Sequence[pb.ClassifyItem]],
    *,
    window: int = DEFAULT_WINDOW,
    timeout: float | None,
    metadata: Any = None,
) -> Generator[pb.ClassifyResult, None, None]:
    """Results of every item of `batches`, in input order, over `method` (the stub's)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    state = StreamState()
    failures = 0
    broke: grpc.RpcError | None = None
    while True:
        attempt = Attempt(state, batches, window, timeout)
        try:
            call = attempt.call = method(attempt.requests(), metadata=metadata)
        except ValueError as exc:  # "Cannot invoke RPC: Channel closed!", should _ours miss it
            if broke is None:
                raise
            raise state.failed(broke) from exc
        watchdog = threading.Thread(target=attempt.watch, name="waerr-stream-watchdog", daemon=True)
        watchdog.start()
        try:
            while True:
                attempt.waiting_since = time.monotonic()
                try:
                    response = next(call)
                except StopIteration:
                    break
                finally:
                    attempt.waiting_since = None
                state.match(response)
                attempt.answered()
                state.answered += len(response.results)
                yield from response.results
        except grpc.RpcError as exc:
            if isinstance(exc, StreamError):
                raise
            if attempt.stalled:
                raise state.stalled(exc, timeout) from exc
            failures = state.broken(
                exc, attempt.got_answer, failures, cancelled_here=_ours(call, exc)
            )
            broke = exc
            time.sleep(min(0.1 * 2**failures, 2.0))
            continue
        finally:
            attempt.close()
            call.cancel()
            watchdog.join()
        state.check_end()
        return


def _ours(call: Any, exc: grpc.RpcError) -> bool:
    """Whether this process ended the call: cancelled it, or closed its channel."""
    return bool(call.cancelled()) or _CHANNEL_CLOSED in (exc.details() or "")


_CHANNEL_CLOSED = "Channel closed!"
"""grpc's status details for the calls a `channel.close()` ends (grpc/_channel.py)."""
