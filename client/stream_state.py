"""What a ClassifyStream keeps across reconnects, for the sync and the asyncio client.

Every sent batch stays in `pending` until its answer arrives and is matched
by ids; when the stream breaks on the way (UNAVAILABLE, a transport reset, a
CANCELLED the caller did not cause: `resendable`) a new stream resends the
unanswered batches first, so no item is lost or answered twice. Resending is
safe because classifying only reads: an answer lost on the way is the same
answer the next replica gives.
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
channel's own retries while nothing is answered yet: service_config.json). A server that
breaks every stream before answering is reported after this many, whatever the status."""


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

    def broken(
        self, exc: grpc.RpcError, got_answer: bool, failures: int, *, cancelled_here: bool = False
    ) -> int:
        """Consecutive failures so far, or the StreamError to raise when not to reconnect.

        `cancelled_here`: this process ended the call itself (cancelled it, closed its
        channel), so a CANCELLED is its own doing, not a break to resend after.
        """
        failures = 1 if got_answer else failures + 1
        if not resendable(exc, cancelled_here) or failures > MAX_RECONNECTS:
            raise self.failed(exc) from exc
        _LOGGER.warning(
            "ClassifyStream broke after %d results (%s); resending %d batches on a new stream",
            self.answered,
            describe(exc),
            len(self.pending),
        )
        return failures

    def failed(self, exc: grpc.RpcError) -> StreamError:
        """The StreamError for a break that is not resent (or no longer)."""
        return stream_failure(
            exc.code(),
            f"ClassifyStream failed after {self.answered} results: {describe(exc)}",
            self.answered,
            exc,
        )

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


def resendable(exc: grpc.RpcError, cancelled_here: bool = False) -> bool:
    """Whether a broken stream's unanswered batches may go out again on a new stream.

    - UNAVAILABLE: the server stopped or the connection went away.
    - INTERNAL from the transport, not from a server's status: the peer reset the
      stream (chttp2's "Received RST_STREAM with error code 2": an L7 proxy such as
      nginx ends a stream whose upstream died that way, having no trailers to send);
      or grpc.aio replacing the real status with "Internal error from Core" (debug
      string `Failed "execute_batch": (SendMessageOperation...)`) when a write races
      a stream the server already closed (grpc/grpc#36066).
    - CANCELLED that the caller did not cause: a grpc.aio server ends the calls it
      accepted but had not started when its stop() begins that way. grpc.aio raises
      asyncio.CancelledError, not an RpcError, for a call cancelled locally; the sync
      client passes `cancelled_here` for a call it cancelled or whose channel it closed.

    A server's own INTERNAL (a bug: trailers with a message) is never resent, and
    whatever is resent is bounded by MAX_RECONNECTS breaks without an answer.
    """
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    if code == grpc.StatusCode.CANCELLED:
        return not cancelled_here
    if code != grpc.StatusCode.INTERNAL:
        return False
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    debug = getattr(exc, "debug_error_string", lambda: "")() or ""
    return _PEER_RESET in details or _PEER_RESET in debug or "execute_batch" in debug


_PEER_RESET = "Received RST_STREAM"
"""How gRPC's HTTP/2 transport words a stream the peer reset (RST_STREAM frame)."""
