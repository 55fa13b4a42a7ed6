"""`python -m whatsapp_errors.server --workers 2`: forked workers share a port, stop on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import grpc

from tests.support.processes import ROOT, children, free_port, wait_serving
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc


def test_two_workers_share_the_port_and_drain_on_sigterm() -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "whatsapp_errors.server", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        wait_serving(port, timeout=30)
        deadline = time.monotonic() + 10
        while len(children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children(proc.pid)
        assert len(workers) == 2
        for _ in range(6):  # separate connections, spread over the workers by the kernel
            options = [("grpc.use_local_subchannel_pool", 1)]
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
                stub = pb_grpc.ErrorCatalogServiceStub(channel)
                reply = stub.Classify(pb.ClassifyRequest(code=131047), timeout=10)
                assert reply.classifications[0].error_info.code == 131047
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert children(proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_must_be_positive() -> None:
    cmd = [
        sys.executable,
        "-m",
        "whatsapp_errors.server",
        "--port",
        str(free_port()),
        "--workers",
        "0",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers must be at least 1" in done.stderr


def _workers(pid: int, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(children(pid)) < count:
        assert time.monotonic() < deadline, f"{children(pid)} is not {count} workers"
        time.sleep(0.05)
    return children(pid)


def _answers(port: int) -> bool:
    options = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        try:
            reply = stub.GetError(pb.GetErrorRequest(code=131047), timeout=2, wait_for_ready=True)
        except grpc.RpcError:
            return False
    answered: bool = reply.error.code == 131047
    return answered


def test_d11_a_killed_worker_is_replaced_and_the_port_keeps_answering() -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "whatsapp_errors.server", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_serving(port, timeout=30)
        first = _workers(proc.pid, 2)
        os.kill(first[0], signal.SIGKILL)  # an OOM kill, say
        failures = sum(not _answers(port) for _ in range(20))
        assert proc.poll() is None, "the supervisor gave up on one dead worker"
        replaced = _workers(proc.pid, 2)
        assert first[0] not in replaced and first[1] in replaced
        wait_serving(port, timeout=30)
        assert failures == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.stderr is not None
    assert "starting a new one" in proc.stderr.read()


def test_d11_a_crash_loop_stops_the_supervisor_with_status_2() -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "whatsapp_errors.server", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_serving(port, timeout=30)
        killed: set[int] = set()
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            for pid in children(proc.pid):
                if pid not in killed:
                    killed.add(pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        assert proc.wait(timeout=30) == 2
        assert len(killed) >= 6  # MAX_RESTARTS replacements, then no more
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.stderr is not None
    assert "crash loop" in proc.stderr.read()
