"""Many replicas: three real server processes behind one client-side round-robin channel.

Each replica is `python -m whatsapp_errors.server --port P --metrics-port M`; the load
spread is read back from each replica's own /metrics, as an operator would.
Also the Docker health check module against a live and a dead port.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.support.processes import free_port, wait_serving
from tests.test_metrics import scrape, value
from whatsapp_errors.server.app import SERVICE_NAME
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
REPLICAS = 3
CALLS = 600
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


@dataclass
class Replica:
    popen: subprocess.Popen[bytes]
    port: int
    metrics_port: int

    def sample(self, name: str, method: str, kind: str, **labels: str) -> float:
        """One of this replica's per-method series, read from its own /metrics."""
        samples, _ = scrape(self.metrics_port)
        return value(
            samples, name, grpc_service=SERVICE_NAME, grpc_method=method, grpc_type=kind, **labels
        )

    def handled(self) -> float:
        return self.sample("grpc_server_handled_total", "Classify", "unary", grpc_code="OK")


def start_replica(*extra_args: str, stderr: int | None = None) -> Replica:
    """Spawns `python -m whatsapp_errors.server` with metrics on free ports (caller waits)."""
    port, metrics_port = free_port(), free_port()
    popen = subprocess.Popen(
        [
            *(sys.executable, "-m", "whatsapp_errors.server", "--port", str(port)),
            *("--metrics-port", str(metrics_port), "--log-level", "WARNING", *extra_args),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stderr=stderr,
    )
    return Replica(popen, port, metrics_port)


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[Replica]]:
    started = [start_replica() for _ in range(REPLICAS)]  # all start at once; then wait
    try:
        for replica in started:
            wait_serving(replica.port)
        yield started
    finally:
        for replica in started:
            replica.popen.send_signal(signal.SIGTERM)
        for replica in started:
            assert replica.popen.wait(timeout=20) == 0


def test_round_robin_spreads_the_load_over_every_replica(replicas: list[Replica]) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in replicas)
    options = [("grpc.service_config", ROUND_ROBIN)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        # Warm up until every replica has answered: round_robin connects to all of them.
        for _ in range(100):
            stub.Classify(pb.ClassifyRequest(code=131026), timeout=10, wait_for_ready=True)
            if all(r.handled() > 0 for r in replicas):
                break
        before = [r.handled() for r in replicas]
        versions = set()
        for i in range(CALLS):
            reply = stub.Classify(pb.ClassifyRequest(code=131026 if i % 2 else 130429), timeout=10)
            versions.add(reply.catalog_version)
        served = [r.handled() - b for r, b in zip(replicas, before, strict=True)]
    assert sum(served) == CALLS
    fair = CALLS / REPLICAS
    assert all(count >= 0.8 * fair for count in served), served
    assert len(versions) == 1  # stateless: every replica gives the same answers


def test_healthcheck_module(replicas: list[Replica]) -> None:
    live = subprocess.run(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server.healthcheck",
            "--port",
            str(replicas[0].port),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert live.returncode == 0 and live.stdout.strip() == "SERVING", live
    dead = subprocess.run(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server.healthcheck",
            "--port",
            str(free_port()),
            "--timeout",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert dead.returncode == 1 and "unhealthy: UNAVAILABLE" in dead.stderr, dead
