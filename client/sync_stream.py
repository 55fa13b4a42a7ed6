"""ClassifyStream for the sync client: batches out, results back in order, bounded memory.

At most `window` batches are out at once: the request iterator (which gRPC
drains on its own thread) waits for a free slot before it pulls the next
batch from the caller's input, so a 10 GB input never sits in memory.
Every sent batch stays in `pending` until its answer arrives; when the
stream breaks with UNAVAILABLE (the server stopped, a replica went away),
a new stream resends the unanswered batches first, so no item is lost or
answered twice, and round-robin sends it to a replica that is up.

A stream has no overall deadline (a big input legitimately takes minutes);
instead a watchdog cancels it when a sent batch has gone unanswered for
`timeout` seconds while the caller was waiting for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from client.errors import StreamError, describe
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

DEFAULT_WINDOW = 4
"""Batches in flight per stream: enough to keep the server busy, little memory."""
MAX_RECONNECTS = 1
"""New streams tried after a break until one gets an answer (each new stream also has the
channel's own UNAVAILABLE retries while it connects)."""
_POLL_SECONDS = 0.1


@dataclass
class Sent:
    """A batch on the wire, waiting for its answer."""

    request: pb.ClassifyStreamRequest
    sent_at: float


@dataclass
class StreamState:
    """What survives a reconnect: unanswered batches, the end of input, the results count."""

    pending: deque[Sent] = field(default_factory=deque)
    answered: int = 0
    input_error: BaseException | None = None
    input_done: bool = False

    def input_failed(self, exc: BaseException) -> None:
        """The caller's iterable raised: stop reading it, report it once answers are in."""
        self.input_error = exc
        self.input_done = True

    def check_end(self) -> None:
        """After the server closed the stream: every batch answered, input read to its end."""
        if self.pending:
            raise StreamError(
                grpc.StatusCode.INTERNAL,
                f"server ended ClassifyStream with {len(self.pending)} batches unanswered",
                self.answered,
            )
        if self.input_error is not None:
            raise self.input_error

    def broken(self, exc: grpc.RpcError, got_answer: bool, failures: int) -> int:
        """Consecutive failures so far, or the StreamError to raise when not to reconnect."""
        failures = 1 if got_answer else failures + 1
        if not _connection_lost(exc) or failures > MAX_RECONNECTS:
            raise StreamError(
                exc.code(),
                f"ClassifyStream failed after {self.answered} results: {describe(exc)}",
                self.answered,
            ) from exc
        _LOGGER.warning(
            "ClassifyStream broke after %d results (%s); resending %d batches on a new stream",
            self.answered,
            describe(exc),
            len(self.pending),
        )
        return failures

    def stalled(self, exc: BaseException | None, timeout: float | None) -> StreamError:
        """The error for a batch left unanswered for `timeout` seconds."""
        error = StreamError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"ClassifyStream: no answer for a batch within {timeout:g}s "
            f"after {self.answered} results",
            self.answered,
        )
        error.__cause__ = exc
        return error

    def match(self, response: pb.ClassifyStreamResponse) -> Sent:
        """Pops the batch `response` answers; a StreamError if it does not match."""
        if not self.pending:
            raise StreamError(
                grpc.StatusCode.INTERNAL, "server sent an answer for no batch", self.answered
            )
        sent = self.pending.popleft()
        items = sent.request.items
        results = response.results
        if len(results) != len(items) or any(
            r.id != i.id for r, i in zip(results, items, strict=True)
        ):
            raise StreamError(
                grpc.StatusCode.INTERNAL,
                f"server answered a batch of {len(items)} items with {len(results)} results "
                "or other ids",
                self.answered,
            )
        return sent


def _connection_lost(exc: grpc.RpcError) -> bool:
    """UNAVAILABLE, or how grpc.aio reports a write racing the server's going away.

    grpc.aio replaces the real status with INTERNAL "Internal error from Core"
    (debug string `Failed "execute_batch": (SendMessageOperation...)`) when a
    write fails on a stream the server already closed (grpc/grpc#36066).
    Resending is safe either way: every method here only reads.
    """
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    debug = getattr(exc, "debug_error_string", lambda: "")() or ""
    return code == grpc.StatusCode.INTERNAL and "execute_batch" in debug


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
    while True:
        attempt = Attempt(state, batches, window, timeout)
        call = attempt.call = method(attempt.requests(), metadata=metadata)
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
            failures = state.broken(exc, attempt.got_answer, failures)
            time.sleep(min(0.1 * 2**failures, 2.0))
            continue
        finally:
            attempt.close()
            call.cancel()
            watchdog.join()
        state.check_end()
        return
