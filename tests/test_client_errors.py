"""The client's own exception classes, raised by both clients against real servers.

Each is a grpc.RpcError (old `except grpc.RpcError` code keeps working) with
the failed call's code, details and trailers; a failed stream is a
StreamError and, at once, the class of its cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest

from tests.conftest import ServerThread
from tests.support.processes import free_port
from tests.test_client import GRAPH_ERROR, TOKEN, NeverAnswers, stream_inputs
from whatsapp_errors.client import (
    AsyncErrorClient,
    ErrorClient,
    InputRefused,
    LimitExceeded,
    NotFound,
    ServiceError,
    StreamError,
    TimedOut,
    Unauthenticated,
    Unreachable,
    describe,
)
from whatsapp_errors.server.app import ServerConfig


@pytest.fixture(scope="module")
def errors(server: ServerThread) -> Iterator[ErrorClient]:
    with ErrorClient(server.target) as connected:
        yield connected


@pytest.fixture(scope="module")
def stalled_server() -> Iterator[ServerThread]:
    thread = ServerThread(ServerConfig(interceptors=[NeverAnswers()])).start()
    yield thread
    thread.stop(grace=0.1)


@pytest.fixture(scope="module")
def token_server() -> Iterator[ServerThread]:
    thread = ServerThread(ServerConfig(token=TOKEN)).start()
    yield thread
    thread.stop(grace=0.5)


def nobody() -> str:
    """A loopback address nothing listens on."""
    return f"127.0.0.1:{free_port()}"


def test_unreadable_input_is_input_refused_with_the_field(errors: ErrorClient) -> None:
    with pytest.raises(InputRefused) as caught:
        errors.classify(b"{not json")
    refused = caught.value
    assert isinstance(refused, grpc.RpcError) and isinstance(refused, ServiceError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.violations and refused.violations[0].startswith("payload")
    assert str(refused) == describe(refused) and "\n" not in str(refused)
    assert isinstance(refused.__cause__, grpc.RpcError)


def test_unknown_codes_are_not_found_and_listed(errors: ErrorClient) -> None:
    with pytest.raises(NotFound) as one:
        errors.get_error(999)
    assert one.value.codes == [999]
    assert describe(one.value).startswith("NOT_FOUND: no catalog entry for code 999")
    with pytest.raises(NotFound) as many:
        errors.get_errors([131047, 999, 998])
    assert many.value.codes == [999, 998]


def test_a_message_over_the_limit_is_limit_exceeded(errors: ErrorClient) -> None:
    with pytest.raises(LimitExceeded) as caught:
        errors.classify(b"x" * (9 * 1024 * 1024))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_no_server_is_unreachable_for_unary_calls_and_streams() -> None:
    with ErrorClient(nobody(), timeout=5) as errors:
        with pytest.raises(Unreachable) as unary:
            errors.categories()
        assert unary.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(Unreachable) as stream:
            list(errors.classify_stream([GRAPH_ERROR]))
        assert isinstance(stream.value, StreamError) and stream.value.answered == 0
        with pytest.raises(Unreachable):
            errors.summarize([GRAPH_ERROR])


def test_a_missing_token_is_unauthenticated(token_server: ServerThread) -> None:
    with ErrorClient(token_server.target) as errors, pytest.raises(Unauthenticated) as caught:
        errors.get_error(131047)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_stall_is_timed_out_for_unary_calls_and_streams(stalled_server: ServerThread) -> None:
    with ErrorClient(stalled_server.target, timeout=0.3) as errors:
        with pytest.raises(TimedOut):
            errors.get_error(131047)
        with pytest.raises(TimedOut) as stream:
            list(errors.classify_stream(stream_inputs(5)))
        assert isinstance(stream.value, StreamError)
        assert "no answer for a batch within 0.3s" in str(stream.value)


def test_the_async_client_raises_the_same_classes(
    server: ServerThread, token_server: ServerThread, stalled_server: ServerThread
) -> None:
    async def main() -> None:
        async with AsyncErrorClient(server.target) as errors:
            with pytest.raises(InputRefused):
                await errors.classify(b"[1, 2]")
            with pytest.raises(NotFound) as missing:
                await errors.get_errors([999])
            assert missing.value.codes == [999]
        async with AsyncErrorClient(token_server.target) as errors:
            with pytest.raises(Unauthenticated):
                await errors.categories()
            with pytest.raises(Unauthenticated):
                await errors.summarize([GRAPH_ERROR])
        async with AsyncErrorClient(stalled_server.target, timeout=0.3) as errors:
            with pytest.raises(TimedOut):
                await errors.get_error(131047)
        async with AsyncErrorClient(nobody(), timeout=5) as errors:
            with pytest.raises(Unreachable):
                await errors.get_error(131047)
            with pytest.raises(Unreachable) as stream:
                async for _ in errors.classify_stream([GRAPH_ERROR]):
                    pass
            assert isinstance(stream.value, StreamError)

    asyncio.run(main())
