"""Which broken ClassifyStreams the clients resend, and that the resending stays bounded.

A stream that breaks on the way (UNAVAILABLE; a peer's RST_STREAM, how nginx
ends a stream whose upstream died; a CANCELLED the client did not cause, how
grpc.aio ends calls it accepted when its stop() begins) is resent: the
unanswered batches go out first on a new stream, nothing lost, nothing
answered twice. A server's own INTERNAL (a bug) is never resent, and a server
that breaks every stream before answering is reported, not retried forever.
Real servers break real streams here with `context.abort`; the RST_STREAM
case needs a real proxy (tests/test_proxy_failover.py) and is checked on the
rule itself below.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from tests.conftest import ServerThread
from tests.test_client import stream_inputs
from whatsapp_errors.client import AsyncErrorClient, ErrorClient, StreamError
from whatsapp_errors.client.policy import SERVICE_CONFIG
from whatsapp_errors.client.stream_state import DEFAULT_WINDOW, MAX_RECONNECTS, resendable
from whatsapp_errors.server.app import ServerConfig

TOTAL = 2_000
BATCH = 100
ATTEMPTS = SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]["maxAttempts"]


class BreaksStreams(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Ends the first `streams` ClassifyStreams with `code` after `after` answers."""

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK
        self.after = 0
        self.streams = 0
        self.started = 0

    def arm(self, code: grpc.StatusCode, after: int, streams: int) -> BreaksStreams:
        self.code, self.after, self.streams, self.started = code, after, streams, 0
        return self

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if not details.method.endswith("/ClassifyStream"):
            return handler
        self.started += 1
        if self.started > self.streams:
            return handler
        inner, code, after = handler.stream_stream, self.code, self.after

        async def breaking(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            if after == 0:
                await anext(aiter(requests))  # the request arrived; no answer ever leaves
                await context.abort(code, "broken on purpose")
            arrived = 0

            async def first_batches() -> AsyncIterator[Any]:
                nonlocal arrived
                async for request in requests:
                    arrived += 1
                    if arrived > after:
                        return  # batch after+1 has arrived, and gets no answer
                    yield request

            # The break comes once batch after+1 is in, not right after answer `after`:
            # a client with a window of 1 is then writing nothing, so grpc.aio cannot
            # replace the status with its own write failure (grpc/grpc#36066,
            # client/stream_state.py `resendable`).
            async for answer in inner(first_batches(), context):
                yield answer
            if arrived > after:
                await context.abort(code, "broken on purpose")

        return handler._replace(stream_stream=breaking)


@pytest.fixture(scope="module")
def breaker() -> BreaksStreams:
    return BreaksStreams()


@pytest.fixture(scope="module")
def breaking_server(breaker: BreaksStreams) -> Iterator[ServerThread]:
    thread = ServerThread(ServerConfig(interceptors=[breaker])).start()
    yield thread
    thread.stop(grace=0.1)


def sync_ids(target: str, window: int = DEFAULT_WINDOW) -> list[int]:
    with ErrorClient(target) as errors:
        results = errors.classify_stream(stream_inputs(TOTAL), batch_size=BATCH, window=window)
        return [int(r.id) for r in results]


def async_ids(target: str, window: int = DEFAULT_WINDOW) -> list[int]:
    async def main() -> list[int]:
        async with AsyncErrorClient(target) as errors:
            results = errors.classify_stream(stream_inputs(TOTAL), batch_size=BATCH, window=window)
            return [int(r.id) async for r in results]

    return asyncio.run(main())


CLIENTS = pytest.mark.parametrize("ids", [sync_ids, async_ids], ids=["sync", "asyncio"])


@CLIENTS
def test_a_stream_the_server_cancels_is_resent_without_loss_or_repeats(
    breaking_server: ServerThread, breaker: BreaksStreams, ids: Any
) -> None:
    breaker.arm(grpc.StatusCode.CANCELLED, after=5, streams=1)
    assert ids(breaking_server.target) == list(range(TOTAL))  # every item once, in order
    assert breaker.started == 2  # the broken stream, then the one that finished the input


@CLIENTS
def test_a_servers_own_internal_error_is_not_resent(
    breaking_server: ServerThread, breaker: BreaksStreams, ids: Any
) -> None:
    breaker.arm(grpc.StatusCode.INTERNAL, after=5, streams=1)
    with pytest.raises(StreamError) as caught:
        # Window 1: nothing is being written when the status comes, so it arrives intact.
        # With a write in flight grpc.aio may hand the client "Internal error from Core"
        # instead, which the client must treat as the transport's and resend.
        ids(breaking_server.target, window=1)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "broken on purpose" in str(caught.value)
    assert caught.value.answered == 5 * BATCH
    assert breaker.started == 1


@CLIENTS
def test_a_server_that_cancels_every_stream_is_reported_not_retried_forever(
    breaking_server: ServerThread, breaker: BreaksStreams, ids: Any
) -> None:
    breaker.arm(grpc.StatusCode.CANCELLED, after=0, streams=10**6)
    started = time.monotonic()
    with pytest.raises(StreamError) as caught:
        ids(breaking_server.target)
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert caught.value.answered == 0
    # Each new stream gets the channel's own attempts (nothing was answered: not committed).
    assert 1 + MAX_RECONNECTS <= breaker.started <= (1 + MAX_RECONNECTS) * ATTEMPTS
    assert time.monotonic() - started < 15


def test_closing_the_client_mid_stream_ends_it_without_a_resend(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller's own cancel is not a break: a StreamError, not a resend, hang or ValueError."""
    errors = ErrorClient(server.target)
    count = 0
    with pytest.raises(StreamError) as caught:
        for _ in errors.classify_stream(stream_inputs(10**7), batch_size=BATCH):
            count += 1
            if count == 1000:
                threading.Thread(target=errors.close).start()
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert not [r for r in caplog.records if "resending" in r.getMessage()]


class Broke(grpc.RpcError):  # type: ignore[misc]
    """A failed call as grpc reports one: code, details, debug string."""

    def __init__(self, code: grpc.StatusCode, details: str, debug: str = "") -> None:
        self._code, self._details, self._debug = code, details, debug

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def debug_error_string(self) -> str:
        return self._debug


@pytest.mark.parametrize(
    ("error", "cancelled_here", "resent"),
    [
        (Broke(grpc.StatusCode.UNAVAILABLE, "Socket closed"), False, True),
        # nginx, for a stream whose upstream was SIGKILLed (tests/test_proxy_failover.py):
        (
            Broke(
                grpc.StatusCode.INTERNAL,
                "Stream removed (RST_STREAM (Received RST_STREAM with error code 2))",
            ),
            False,
            True,
        ),
        (
            Broke(
                grpc.StatusCode.INTERNAL,
                "Internal error from Core",
                'Failed "execute_batch": (SendMessageOperation...)',
            ),
            False,
            True,
        ),
        (Broke(grpc.StatusCode.INTERNAL, "broken on purpose"), False, False),
        (Broke(grpc.StatusCode.CANCELLED, "CANCELLED"), False, True),
        (Broke(grpc.StatusCode.CANCELLED, "Locally cancelled by application!"), True, False),
        (Broke(grpc.StatusCode.UNKNOWN, "Unexpected error"), False, False),
        (Broke(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), False, False),
        (Broke(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many streams"), False, False),
        (Broke(grpc.StatusCode.INVALID_ARGUMENT, "bad batch"), False, False),
    ],
    ids=lambda v: v.details()[:24] if isinstance(v, Broke) else str(v),
)
def test_what_is_resent(error: Broke, cancelled_here: bool, resent: bool) -> None:
    assert resendable(error, cancelled_here) is resent
