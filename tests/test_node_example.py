"""A second language, proven: examples/node (grpc-js) against a real server on port 0.

The example loads the .proto at run time and the channel policy from the JSON
published beside it; round-robin over two replicas shows the service config
is the one in force (grpc-js, like every gRPC, would pick the first address
otherwise).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.support import node
from tests.support.processes import free_port
from tests.test_client import CallCounter
from whatsapp_errors.server.app import ServerConfig

WEBHOOK = node.ROOT / "examples" / "webhook.json"


def run(example: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node.node(), str(example / "classify.js"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def example() -> Path:
    return node.installed()


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[tuple[ServerThread, CallCounter]]]:
    servers = []
    for _ in range(2):
        counter = CallCounter()
        servers.append((ServerThread(ServerConfig(interceptors=[counter])).start(), counter))
    yield servers
    for thread, _ in servers:
        thread.stop(grace=0.5)


def test_node_classifies_a_failed_status_webhook(example: Path, server: ServerThread) -> None:
    result = run(example, "--target", server.target, str(WEBHOOK))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA 131047 resend_as_template -",
        "wamid.HBgLMTU1NTk4NzY1NDMVAgARGBIzRkI1QjA4RjcwQ0E0QjA1RDYA 130429 retry_after 60s",
    ]


def test_node_balances_round_robin_as_the_service_config_says(
    example: Path, replicas: list[tuple[ServerThread, CallCounter]]
) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{thread.port}" for thread, _ in replicas)
    result = run(example, "--target", target, "--repeat", "20", str(WEBHOOK))
    assert result.returncode == 0, result.stderr
    calls = [counter.calls.count("Classify") for _, counter in replicas]
    assert sum(calls) == 20 and min(calls) >= 5, calls


def test_node_reports_an_unreachable_service_in_one_line(example: Path) -> None:
    result = run(example, "--target", f"127.0.0.1:{free_port()}", str(WEBHOOK))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("classify.js: UNAVAILABLE:") and "round_robin" in line
