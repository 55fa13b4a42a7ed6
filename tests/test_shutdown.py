"""SIGTERM on a real `python -m whatsapp_errors.server` process, with a stream in flight.

Health must turn NOT_SERVING at once, every item sent on an open stream must
still be answered, and the process must exit 0 within the grace period; a
second signal exits at once.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.processes import ROOT, free_port, wait_serving
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

BATCH = 50
GRACE_SECONDS = 8


def _batch(start: int) -> pb.ClassifyStreamRequest:
    return pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(start + i), code=131047) for i in range(BATCH)]
    )


def _requests(
    outbox: queue.Queue[pb.ClassifyStreamRequest | None],
) -> Iterator[pb.ClassifyStreamRequest]:
    while (request := outbox.get()) is not None:
        yield request


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "whatsapp_errors.server",
        "--port",
        str(port),
        "--workers",
        "1",
        "--grace",
        str(GRACE_SECONDS),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        wait_serving(port, timeout=30)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_sigterm_drains_an_open_stream_and_exits_zero(
    server_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

        outbox: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()
        responses = stub.ClassifyStream(_requests(outbox), timeout=30)
        answered: list[str] = []
        for start in range(0, 3 * BATCH, BATCH):
            outbox.put(_batch(start))
            answered += [r.id for r in next(responses).results]

        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert time.monotonic() - signalled < 2, "health must turn NOT_SERVING at once"
        watch.cancel()

        # The stream opened before the signal goes on: later batches are answered too.
        for start in range(3 * BATCH, 6 * BATCH, BATCH):
            outbox.put(_batch(start))
            answered += [r.id for r in next(responses).results]
        outbox.put(None)
        assert list(responses) == []

    assert answered == [str(i) for i in range(6 * BATCH)]
    assert proc.wait(timeout=GRACE_SECONDS + 10) == 0
    assert time.monotonic() - signalled < GRACE_SECONDS + 5
    assert proc.stderr is not None
    log = proc.stderr.read().decode()
    assert "draining" in log


def test_new_calls_are_refused_while_draining(
    server_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        outbox: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()
        responses = stub.ClassifyStream(_requests(outbox), timeout=30)
        outbox.put(_batch(0))
        assert len(next(responses).results) == BATCH  # keeps the server draining
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as fresh:
            with pytest.raises(grpc.RpcError) as refused:
                pb_grpc.ErrorCatalogServiceStub(fresh).GetError(
                    pb.GetErrorRequest(code=131047), timeout=3
                )
            assert refused.value.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
        outbox.put(None)
        assert list(responses) == []
    assert proc.wait(timeout=GRACE_SECONDS + 10) == 0


def test_second_signal_exits_at_once(
    server_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        outbox: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()
        responses = stub.ClassifyStream(_requests(outbox), timeout=30)
        outbox.put(_batch(0))
        assert len(next(responses).results) == BATCH  # in flight: a drain would wait for it
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert proc.poll() is None, "the first signal drains; it must not exit yet"
        second = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=5)
        assert time.monotonic() - second < 2
        assert code == 1
        outbox.put(None)


def test_d9_sighup_during_the_drain_is_logged_and_the_drain_goes_on(
    server_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    """A config reloader's SIGHUP landing in the grace period used to kill the process."""
    proc, port = server_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        outbox: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()
        responses = stub.ClassifyStream(_requests(outbox), timeout=30)
        answered: list[str] = []
        outbox.put(_batch(0))
        answered += [r.id for r in next(responses).results]
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None, "SIGHUP ended the drain"
        for start in range(BATCH, 4 * BATCH, BATCH):  # the stream still works
            outbox.put(_batch(start))
            answered += [r.id for r in next(responses).results]
        outbox.put(None)
        assert list(responses) == []
    assert answered == [str(i) for i in range(4 * BATCH)]
    assert proc.wait(timeout=GRACE_SECONDS + 10) == 0
    assert proc.stderr is not None
    assert "SIGHUP while draining" in proc.stderr.read().decode()


def test_d9_sighup_after_the_drain_does_not_kill_the_exiting_process(
    server_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, _port = server_process
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        proc.send_signal(signal.SIGHUP)  # all the way to the exit
        time.sleep(0.01)
    assert proc.wait(timeout=10) == 0
