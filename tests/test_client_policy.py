"""The published channel policy: JSON beside the proto, the one source the client reads.

Other languages load the same two files (examples/node does, in
tests/test_node_example.py), so the Python client must take its retry,
balancing, keepalive and limit settings from them and nowhere else, and the
files must ship in the installed package.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import ServerThread
from tests.test_hot_path import CAN_COMPILE
from whatsapp_errors.client import ErrorClient, InputRefused, LimitExceeded, TimedOut
from whatsapp_errors.client.config import (
    MAX_MESSAGE_BYTES,
    SERVICE_NAME,
    ClientConfig,
    channel_options,
)
from whatsapp_errors.client.policy import (
    CHANNEL_OPTIONS,
    CHANNEL_OPTIONS_FILE,
    SERVICE_CONFIG,
    SERVICE_CONFIG_FILE,
)
from whatsapp_errors.server import hot_path
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.v1 import error_catalog_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "protos" / "whatsapp" / "errors" / "v1"


def test_the_client_uses_the_files_beside_the_proto() -> None:
    assert json.loads((PUBLISHED / SERVICE_CONFIG_FILE).read_text()) == SERVICE_CONFIG
    assert json.loads((PUBLISHED / CHANNEL_OPTIONS_FILE).read_text()) == CHANNEL_OPTIONS
    options = dict(channel_options(ClientConfig()))
    assert json.loads(options["grpc.service_config"]) == SERVICE_CONFIG
    assert {k: options[k] for k in CHANNEL_OPTIONS} == CHANNEL_OPTIONS


def test_the_service_config_names_the_service_and_retries_calls_no_handler_answered() -> None:
    (method,) = SERVICE_CONFIG["methodConfig"]
    assert method["name"] == [{"service": SERVICE_NAME}]
    # UNAVAILABLE: no server; CANCELLED: a grpc.aio server's stop() ending calls it had
    # accepted but not started (tests/test_failover.py). Never a deadline or a server error.
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE", "CANCELLED"]
    assert method["maxRequestMessageBytes"] == method["maxResponseMessageBytes"]
    assert method["maxRequestMessageBytes"] == MAX_MESSAGE_BYTES
    assert SERVICE_CONFIG["loadBalancingConfig"] == [{"round_robin": {}}]


class CancelsFirstCalls(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Ends the first `cancel` Classify calls CANCELLED before the handler; GetError is slow."""

    def __init__(self) -> None:
        self.cancel = 0
        self.calls: list[str] = []

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        method = details.method.rsplit("/", 1)[-1]
        self.calls.append(method)
        if method == "Classify" and self.calls.count("Classify") <= self.cancel:

            async def cancelled(request: Any, context: Any) -> Any:
                await context.abort(grpc.StatusCode.CANCELLED, "stopping")

            return handler._replace(unary_unary=cancelled)
        if method == "GetError":

            async def slow(request: Any, context: Any) -> Any:
                await asyncio.sleep(1)
                return await handler.unary_unary(request, context)

            return handler._replace(unary_unary=slow)
        return handler


def test_a_cancelled_from_the_server_is_retried_a_cancel_of_the_callers_never() -> None:
    """gRPC retries only what the server (or the way to it) ended, never the caller's cancel."""
    counter = CancelsFirstCalls()
    thread = ServerThread(ServerConfig(interceptors=[counter])).start()
    try:
        with ErrorClient(thread.target) as errors:
            counter.cancel = 2
            assert errors.classify(131047).classifications[0].error_info.code == 131047
            assert counter.calls.count("Classify") == 3  # two CANCELLED, retried by the channel
            counter.calls.clear()
            pending = errors.stub.GetError.future(pb.GetErrorRequest(code=131047), timeout=10)
            time.sleep(0.3)
            assert pending.cancel()
            with pytest.raises(grpc.FutureCancelledError):
                pending.result()
            time.sleep(1.5)  # a retry would have reached the server by now
            assert counter.calls == ["GetError"]
            counter.calls.clear()
            with pytest.raises(TimedOut):  # nor a deadline
                errors.get_error(131047, timeout=0.3)
            time.sleep(1.0)
            assert counter.calls == ["GetError"]
    finally:
        thread.stop(grace=0.1)


def test_the_limit_is_the_servers(server: ServerThread) -> None:
    """Just under the published limit reaches the server (which reads it); just over does not."""
    with ErrorClient(server.target) as errors:
        with pytest.raises(InputRefused):  # read, and refused as JSON: the size was fine
            errors.classify(b"x" * (MAX_MESSAGE_BYTES - 1024))
        with pytest.raises(LimitExceeded):
            errors.classify(b"x" * (MAX_MESSAGE_BYTES + 1024))


def test_the_json_ships_in_the_client_wheel_and_each_wheel_holds_its_own(tmp_path: Path) -> None:
    """Built as the Dockerfile builds them: ./client (client and stubs), then . (the server)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info", "*.so")
    for name in ("protos", "server", "client", "whatsapp_errors"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore, symlinks=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    wheels = {}
    for project, folder in (("client", source / "client"), ("server", source)):
        subprocess.run([*pip, "-w", str(tmp_path / project), str(folder)], check=True)
        (wheel,) = (tmp_path / project).glob("*.whl")
        wheels[project] = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    stubs = pb.__name__.rpartition(".")[0].replace(".", "/")
    assert stubs == "whatsapp_errors/v1"
    assert {f"{stubs}/{SERVICE_CONFIG_FILE}", f"{stubs}/{CHANNEL_OPTIONS_FILE}"} <= wheels["client"]
    # One import root, and no file in both: installing both never overwrites the other's.
    assert all(n.startswith("whatsapp_errors/") for w in wheels.values() for n in w)
    assert not wheels["client"] & wheels["server"]
    assert all(n.startswith(("whatsapp_errors/client/", f"{stubs}/")) for n in wheels["client"])
    assert all(n.startswith("whatsapp_errors/server/") for n in wheels["server"])
    assert not any(n.startswith("whatsapp_errors/client/tests") for n in wheels["client"])
    if CAN_COMPILE:  # the hot path compiled into the server's
        group = hot_path.GROUP.replace(".", "/")
        assert any(n.startswith(group) and n.endswith(".so") for n in wheels["server"])
        for module in hot_path.SOURCES:
            stem = f"whatsapp_errors/server/{module[:-3]}"
            assert f"{stem}.py" in wheels["server"]
            assert any(n.startswith(f"{stem}.") and n.endswith(".so") for n in wheels["server"])
