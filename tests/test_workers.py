"""`python -m server --workers 2`: pre-forked processes share one port and stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import grpc

from tests.support.processes import ROOT, children, free_port, wait_serving
from whatsapp.errors.v1 import error_catalog_pb2 as pb
from whatsapp.errors.v1 import error_catalog_pb2_grpc as pb_grpc


def test_two_workers_share_the_port_and_drain_on_sigterm() -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "server", "--port", str(port), "--workers", "2"]
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
    cmd = [sys.executable, "-m", "server", "--port", str(free_port()), "--workers", "0"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers must be at least 1" in done.stderr
