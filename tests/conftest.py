"""Shared fixtures: real servers on port 0, reached over real channels.

One server per test module (grpcio leaks when servers are created and
stopped in a loop); each runs its own asyncio loop in a background thread so
tests can use plain synchronous stubs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future

import grpc
import pytest

from whatsapp_errors.server.app import RunningServer, ServerConfig, shutdown, start
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc


class ServerThread:
    """A real grpc.aio server on 127.0.0.1:0, running in its own thread and loop."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.loop = asyncio.new_event_loop()
        self._ready: Future[RunningServer] = Future()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grpc-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            running = self.loop.run_until_complete(start("127.0.0.1:0", self.config))
        except BaseException as exc:  # report start-up failures to the test
            self._ready.set_exception(exc)
            return
        self._ready.set_result(running)
        self.loop.run_forever()
        self._stopped.set()

    def start(self) -> ServerThread:
        """Starts the server and waits until it is SERVING."""
        self._thread.start()
        self.running = self._ready.result(timeout=30)
        self.port = self.running.port
        self.target = f"127.0.0.1:{self.port}"
        return self

    def call(self, coro: object) -> object:
        """Runs a coroutine on the server's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)  # type: ignore[arg-type]

    def stop(self, grace: float = 1.0) -> None:
        """Drains and stops the server and its loop."""
        self.call(shutdown(self.running, grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """A real server with the embedded catalog, one per test module."""
    thread = ServerThread().start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    """A real insecure channel to the module's server."""
    with grpc.insecure_channel(server.target) as chan:
        grpc.channel_ready_future(chan).result(timeout=10)
        yield chan


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.ErrorCatalogServiceStub:
    """The generated stub over the module's channel."""
    return pb_grpc.ErrorCatalogServiceStub(channel)
