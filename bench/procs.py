"""Server and load-generator subprocesses: start, wait for SERVING, measure, stop.

Everything the benchmark measures runs in its own process: the server under
test (`python -m whatsapp_errors.server` or the reference), and the load generator. This
module also reads what the kernel knows about them (RSS from /proc).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
"""The checkout: subprocesses run from here so `-m bench.*` imports."""


def free_port() -> int:
    """A port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of one process, from /proc/<pid>/status VmRSS."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of `pid` (the workers of a pre-forked server)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as kids:
            return [int(p) for p in kids.read().split()]
    except OSError:
        return []


def wait_serving(port: int, timeout: float = 20.0) -> None:
    """Returns once health/Check on `port` says SERVING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.002)
    while time.monotonic() < deadline:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.002)
    raise TimeoutError(f"server on port {port} not SERVING after {timeout}s")


@dataclass
class ServerProcess:
    """A server under test running as a subprocess."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    startup_s: float
    workers: int

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    def pids(self) -> list[int]:
        """The processes doing the serving (the workers when pre-forked)."""
        kids = children(self.popen.pid)
        return kids if kids else [self.popen.pid]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within a few seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


DEFAULT = 0
"""`workers` for the default server: `python -m whatsapp_errors.server` without `--workers`."""


def default_workers() -> int:
    """How many workers `python -m whatsapp_errors.server` runs when `--workers` is not given."""
    from whatsapp_errors.server.workers import DEFAULT_WORKERS

    return DEFAULT_WORKERS


def server_command(
    kind: str, port: int, workers: int = 1, extra_args: Sequence[str] = ()
) -> list[str]:
    """The argv that serves `kind` on `port`: "service", or "reference".

    "reference" is the empty-handler server on grpc.aio (bench/servers/reference.py).
    `workers` DEFAULT leaves `--workers` out: the server as it is deployed.
    """
    if kind == "reference":
        return [sys.executable, "-m", "bench.servers.reference", "--port", str(port), *extra_args]
    cmd = [sys.executable, "-m", "whatsapp_errors.server", "--host", HOST, "--port", str(port)]
    cmd += ["--log-level", "WARNING"]
    if workers != DEFAULT:
        cmd += ["--workers", str(workers)]
    return [*cmd, *extra_args]


def start_server(kind: str, workers: int = 1, extra_args: Sequence[str] = ()) -> ServerProcess:
    """Starts the `kind` server (see `server_command`) and waits for SERVING.

    With `workers` DEFAULT the server runs its default worker count, which
    the returned process reports in `workers`.
    """
    port = free_port()
    cmd = server_command(kind, port, workers, extra_args)
    if workers == DEFAULT:
        workers = default_workers() if kind == "service" else 1
    began = time.perf_counter()
    popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_serving(port)
    except BaseException:
        popen.kill()
        raise
    startup = time.perf_counter() - began
    if workers > 1:  # every worker must be up, not just the first to answer
        deadline = time.monotonic() + 10
        while len(children(popen.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.01)
    return ServerProcess(kind, popen, port, startup, workers)


def run_loadgen(
    plan: dict[str, Any], server: ServerProcess, sample_rss: float = 0.0
) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    """Runs the load generator on `plan`; returns its results and RSS samples (s, MiB)."""
    plan = {**plan, "target": server.target, "server_pids": server.pids()}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(plan).encode())
    proc.stdin.close()
    samples: list[tuple[float, float]] = []
    if sample_rss:
        pid = server.pids()[0]
        began = time.perf_counter()
        while proc.poll() is None:
            samples.append((time.perf_counter() - began, rss_mib(pid)))
            time.sleep(sample_rss)
        samples.append((time.perf_counter() - began, rss_mib(pid)))
    out = proc.stdout.read().decode()
    if proc.wait() != 0:
        raise RuntimeError(f"load generator failed (exit {proc.returncode})")
    return [json.loads(line) for line in out.splitlines() if line.strip()], samples
