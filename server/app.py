"""Builds and runs the grpc.aio server: service, health, reflection, limits, shutdown.

`create_server(address)` returns `(server, port)` so tests can bind port 0;
`serve()` adds signal handling: on SIGTERM health turns NOT_SERVING at once,
in-flight calls get a grace period, and a second signal exits immediately.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.catalog import EMBEDDED_CATALOG, load_catalog
from server.classifier import Classifier
from server.service import ClassifierHolder, ErrorCatalogServicer
from server.wire import add_servicer
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ErrorCatalogService"].full_name
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Largest request or response message, on both sides (clients use the same)."""
DEFAULT_GRACE_SECONDS = 10.0


@dataclass
class ServerConfig:
    """Everything `create_server` needs; defaults serve the embedded catalog."""

    catalog_path: Path = EMBEDDED_CATALOG
    overlay_path: Path | None = None
    reflection: bool = True
    reuse_port: bool = False
    max_concurrent_rpcs: int | None = None
    extra_options: list[tuple[str, Any]] = field(default_factory=list)
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    """Server interceptors, outermost first (tests count calls per replica with one)."""


@dataclass
class RunningServer:
    """A started server and the parts shutdown and reload need."""

    server: grpc.aio.Server
    port: int
    holder: ClassifierHolder
    health: health.aio.HealthServicer


def server_options(config: ServerConfig) -> list[tuple[str, Any]]:
    """Channel arguments: message limits, keepalive, connection age, port sharing."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_connection_age_ms", 30 * 60_000),
        ("grpc.max_connection_age_grace_ms", 60_000),
        *config.extra_options,
    ]


def create_server(address: str, config: ServerConfig | None = None) -> tuple[grpc.aio.Server, int]:
    """Builds (does not start) a server bound to `address`; port 0 picks a free port."""
    running = build_server(address, config)
    return running.server, running.port


def build_server(address: str, config: ServerConfig | None = None) -> RunningServer:
    """Like `create_server`, also returning the parts shutdown and reload need."""
    config = config or ServerConfig()
    classifier = Classifier(load_catalog(config.catalog_path, config.overlay_path))
    holder = ClassifierHolder(classifier)
    server = grpc.aio.server(
        options=server_options(config),
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        interceptors=config.interceptors or None,
    )
    add_servicer(ErrorCatalogServicer(holder), server)  # Classify* may answer in bytes
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if config.reflection:
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}: address in use or not available")
    return RunningServer(server, port, holder, health_servicer)


async def start(address: str, config: ServerConfig | None = None) -> RunningServer:
    """Creates and starts a server, then reports SERVING."""
    running = build_server(address, config)
    await running.server.start()
    await _set_serving(running.health, health_pb2.HealthCheckResponse.SERVING)
    return running


async def _set_serving(servicer: health.aio.HealthServicer, status: int) -> None:
    for name in ("", SERVICE_NAME):
        await servicer.set(name, status)


async def shutdown(running: RunningServer, grace: float) -> None:
    """NOT_SERVING at once, then let in-flight calls finish within `grace` seconds."""
    await running.health.enter_graceful_shutdown()
    await running.server.stop(grace)


async def serve(
    address: str, config: ServerConfig | None = None, grace: float = DEFAULT_GRACE_SECONDS
) -> None:
    """Runs until SIGTERM or SIGINT; a second signal exits at once."""
    running = await start(address, config)
    _LOGGER.info(
        "serving %s on %s (port %d), catalog %s",
        SERVICE_NAME,
        address,
        running.port,
        running.holder.current.version,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            _LOGGER.warning("second signal %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        _LOGGER.info("signal %s: draining for up to %.1fs", signal.Signals(signum).name, grace)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await stop.wait()
    await shutdown(running, grace)
    _LOGGER.info("stopped")
