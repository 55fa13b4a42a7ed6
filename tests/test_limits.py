"""The documented limits, enforced on a real server: concurrent calls and message sizes.

Our own in-flight count (server/ops/admission.py) refuses the call past the limit
with RESOURCE_EXHAUSTED and a clear message while health keeps answering;
closed and cancelled streams give their slots back. Messages over
MAX_MESSAGE_BYTES are refused in both directions.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import orjson
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from tests.conftest import ServerThread
from tests.support.processes import ROOT
from whatsapp_errors.server.app import MAX_MESSAGE_BYTES, ServerConfig
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

LIMIT = 3


@pytest.fixture(scope="module")
def limited() -> Iterator[ServerThread]:
    thread = ServerThread(ServerConfig(max_concurrent_rpcs=LIMIT)).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def limited_stub(limited: ServerThread) -> Iterator[pb_grpc.ErrorCatalogServiceStub]:
    # The client accepts more than the server sends, so a refusal is the server's own.
    options = [("grpc.max_receive_message_length", 4 * MAX_MESSAGE_BYTES)]
    with grpc.insecure_channel(limited.target, options=options) as channel:
        yield pb_grpc.ErrorCatalogServiceStub(channel)


class OpenStream:
    """A ClassifyStream held open: one batch answered, so the server counts it."""

    def __init__(self, stub: pb_grpc.ErrorCatalogServiceStub) -> None:
        self._outbox: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()
        self.responses = stub.ClassifyStream(self._requests(), timeout=30)
        self._outbox.put(pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="1", code=131047)]))

    def _requests(self) -> Iterator[pb.ClassifyStreamRequest]:
        while (request := self._outbox.get()) is not None:
            yield request

    def first(self) -> pb.ClassifyStreamResponse:
        """The answer to the first batch (raises the stream's error if refused)."""
        response: pb.ClassifyStreamResponse = next(self.responses)
        return response

    def close(self) -> None:
        """Half-closes and reads to the end."""
        self._outbox.put(None)
        assert list(self.responses) == []


def _open(stub: pb_grpc.ErrorCatalogServiceStub, count: int) -> list[OpenStream]:
    streams = [OpenStream(stub) for _ in range(count)]
    for stream in streams:
        assert [r.id for r in stream.first().results] == ["1"]
    return streams


def _get_error(stub: pb_grpc.ErrorCatalogServiceStub) -> pb.GetErrorResponse:
    response: pb.GetErrorResponse = stub.GetError(pb.GetErrorRequest(code=131047), timeout=5)
    return response


def _eventually_served(stub: pb_grpc.ErrorCatalogServiceStub, within: float = 5) -> None:
    """Slots come back when the server sees the stream end; that takes a moment."""
    deadline = time.monotonic() + within
    while True:
        try:
            _get_error(stub)
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_the_call_past_the_limit_is_refused_with_resource_exhausted(
    limited: ServerThread, limited_stub: pb_grpc.ErrorCatalogServiceStub
) -> None:
    streams = _open(limited_stub, LIMIT)
    try:
        with pytest.raises(grpc.RpcError) as unary:
            _get_error(limited_stub)
        assert unary.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"{LIMIT} concurrent calls and streams" in (unary.value.details() or "")
        assert "--max-concurrent-rpcs" in (unary.value.details() or "")
        status = rpc_status.from_call(unary.value)
        assert status is not None
        kinds = {detail.type_url.rsplit(".", 1)[-1] for detail in status.details}
        assert kinds == {"ErrorInfo", "RetryInfo"}
        info = error_details_pb2.ErrorInfo()
        next(d for d in status.details if d.Is(info.DESCRIPTOR)).Unpack(info)
        assert info.reason == "TOO_MANY_CONCURRENT_RPCS"

        with pytest.raises(grpc.RpcError) as stream:
            OpenStream(limited_stub).first()
        assert stream.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        with grpc.insecure_channel(limited.target) as channel:  # probes are never limited
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        for open_stream in streams:
            open_stream.close()
    _eventually_served(limited_stub)


def test_closed_and_cancelled_streams_give_their_slots_back(
    limited_stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    for _ in range(3):
        streams = _open(limited_stub, LIMIT)
        for stream in streams:
            stream.responses.cancel()
        _eventually_served(limited_stub)
    # The count is exact: LIMIT streams fit again, one more does not.
    streams = _open(limited_stub, LIMIT)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _get_error(limited_stub)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        for stream in streams:
            stream.close()
    _eventually_served(limited_stub)


def test_refused_and_failed_calls_give_their_slots_back(
    limited_stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    for _ in range(2 * LIMIT):
        with pytest.raises(grpc.RpcError) as failed:
            limited_stub.GetError(pb.GetErrorRequest(code=-1), timeout=5)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    streams = _open(limited_stub, LIMIT)
    for stream in streams:
        stream.close()
    _eventually_served(limited_stub)


def test_a_response_over_the_message_limit_is_resource_exhausted(
    limited_stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    # Every error of a status echoes the status's ids (each capped at 256 characters):
    # 10,000 errors (the most one payload may hold) under long ids is a ~13 MB answer.
    status: dict[str, object] = {
        key: "9" * 256 for key in ("id", "status", "timestamp", "recipient_id")
    }
    status["errors"] = [131047] * 10_000
    payload = orjson.dumps({"statuses": [status]})
    assert len(payload) < 100_000
    with pytest.raises(grpc.RpcError) as too_big:
        limited_stub.Classify(pb.ClassifyRequest(payload=payload), timeout=30)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (too_big.value.details() or "")
    assert str(MAX_MESSAGE_BYTES) in (too_big.value.details() or "")
    _eventually_served(limited_stub)


def test_a_negative_limit_is_refused_on_the_command_line() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--max-concurrent-rpcs",
            "-1",
            "--port",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--max-concurrent-rpcs must be 0 (no limit) or more" in proc.stderr
