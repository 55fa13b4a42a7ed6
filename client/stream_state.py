"""What a ClassifyStream keeps across reconnects, for the sync and the asyncio client.

Every sent batch stays in `pending` until its answer arrives and is matched
by ids; after UNAVAILABLE a new stream resends the unanswered batches first,
so no item is lost or answered twice.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import grpc

from whatsapp_errors.client.errors import StreamError, stream_failure
from whatsapp_errors.client.status import describe
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

DEFAULT_WINDOW = 4
"""Batches in flight per stream: enough to keep the server busy, little memory."""
MAX_RECONNECTS = 1
"""New streams tried after a break until one gets an answer (each new stream also has the
channel's own UNAVAILABLE retries while it connects)."""


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
            raise stream_failure(
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
            raise stream_failure(
                exc.code(),
                f"ClassifyStream failed after {self.answered} results: {describe(exc)}",
                self.answered,
                exc,
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
        error = stream_failure(
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
            raise stream_failure(
                grpc.StatusCode.INTERNAL, "server sent an answer for no batch", self.answered
            )
        sent = self.pending.popleft()
        items = sent.request.items
        results = response.results
        if len(results) != len(items) or any(
            r.id != i.id for r, i in zip(results, items, strict=True)
        ):
            raise stream_failure(
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
