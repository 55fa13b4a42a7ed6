"""Server subprocesses for the tests: a free port, the checkout, waiting for SERVING.

The tests start real `python -m whatsapp_errors.server` processes (signals, workers,
replicas); these helpers find a port, run from the checkout so `-m whatsapp_errors.server`
imports, and wait until the gRPC health service says SERVING.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import grpc

from whatsapp_errors.server.healthcheck import check

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
"""The checkout: subprocesses run from here so `-m whatsapp_errors.server` imports."""


def free_port() -> int:
    """A port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Direct children of `pid` (the workers of a pre-forked server)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as kids:
            return [int(p) for p in kids.read().split()]
    except OSError:
        return []


def wait_serving(port: int, timeout: float = 20.0) -> None:
    """Returns once health/Check on `port` says SERVING (raises TimeoutError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check(f"{HOST}:{port}", timeout=1.0) == "SERVING":
                return
        except grpc.RpcError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"server on port {port} not SERVING after {timeout}s")
