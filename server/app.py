"""Builds and runs the grpc.aio server: service, health, reflection, limits, shutdown.

`create_server(address, config)` builds one, bound (port 0 picks a free
port, so tests bind it); `start` starts it and reports SERVING; `serve()`
adds signal handling: on SIGTERM health turns NOT_SERVING at once, in-flight
calls get a grace period, and a second signal exits immediately.
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
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from whatsapp_errors.server import hot_path
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.server.classify.classifier import Classifier, ClassifierHolder
from whatsapp_errors.server.ops import gc_freeze as heap
from whatsapp_errors.server.ops.admission import DEFAULT_STREAM_IDLE_SECONDS
from whatsapp_errors.server.ops.admission import interceptors as limit_interceptors
from whatsapp_errors.server.ops.arrival import DEFAULT_REQUEST_TIMEOUT
from whatsapp_errors.server.ops.auth import interceptors as auth_interceptors
from whatsapp_errors.server.ops.health import HealthServicer
from whatsapp_errors.server.ops.health_admission import DEFAULT_MAX_HEALTH_WATCHES
from whatsapp_errors.server.ops.instrument import instrument
from whatsapp_errors.server.ops.metrics import Metrics, NoMetrics
from whatsapp_errors.server.ops.overlay_guard import check_overlay
from whatsapp_errors.server.ops.reload import CatalogReloader, ReloadHandle, ignore_sighup
from whatsapp_errors.server.ops.security import TlsFiles, server_credentials
from whatsapp_errors.server.rpc import budget
from whatsapp_errors.server.rpc.registration import SERVICE, GenericOnly, add_servicer
from whatsapp_errors.server.rpc.service import ErrorCatalogServicer
from whatsapp_errors.server.rpc.wire_guard import CHECKS

_LOGGER = logging.getLogger(__name__)

SERVICE_NAME = SERVICE.full_name
MAX_MESSAGE_BYTES = budget.MAX_MESSAGE_BYTES
"""Largest request or response message, on both sides (clients use the same)."""
DEFAULT_GRACE_SECONDS = 10.0
DEFAULT_MAX_STREAMS_PER_CONNECTION = 100
"""HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS)."""


@dataclass
class ServerConfig:
    """Everything `create_server` needs; defaults serve the embedded catalog."""

    catalog_path: Path = EMBEDDED_CATALOG
    overlay_path: Path | None = None
    reflection: bool = True
    reuse_port: bool = False
    max_concurrent_rpcs: int | None = None
    """Our own cap on calls and streams in flight (server/ops/admission.py); None or 0: no cap."""
    max_streams_per_connection: int = DEFAULT_MAX_STREAMS_PER_CONNECTION
    """So one connection cannot take every slot of the cap above."""
    stream_idle_timeout: float = DEFAULT_STREAM_IDLE_SECONDS
    """A stream sending no request for this long is ended (UNAVAILABLE); 0: never."""
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    """A unary call must deliver its request within this long (server/ops/arrival.py)."""
    max_health_watches: int = DEFAULT_MAX_HEALTH_WATCHES
    """Health Watch streams open at once (Check is never limited)."""
    tls: TlsFiles | None = None
    """Serve TLS (mutual TLS when `tls.client_ca` is set); None: plaintext."""
    token: str | None = None
    """Require `authorization: Bearer <token>` on every call but health."""
    extra_options: list[tuple[str, Any]] = field(default_factory=list)
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    """Server interceptors, outermost first (tests count calls per replica with one)."""
    metrics_port: int | None = None
    """Serve Prometheus /metrics on this port (0 picks one); None: no metrics at all."""
    metrics_host: str = "127.0.0.1"
    """Loopback unless asked: the body tells the traffic mix and the catalog version."""
    metrics_token: str | None = None
    """Require `Authorization: Bearer <token>` on /metrics; None: open (on metrics_host)."""
    watch_interval: float = 0.0
    """Poll the catalog files every this many seconds and reload on change; 0: SIGHUP only."""


@dataclass
class RunningServer:
    """A started server and the parts shutdown and reload need."""

    server: grpc.aio.Server
    port: int
    holder: ClassifierHolder
    health: health.aio.HealthServicer
    metrics: Metrics


def server_options(config: ServerConfig) -> list[tuple[str, Any]]:
    """Channel arguments: message limits, streams per connection, keepalive, connection age."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_concurrent_streams", config.max_streams_per_connection),
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_connection_age_ms", 30 * 60_000),
        ("grpc.max_connection_age_grace_ms", 60_000),
        *config.extra_options,
    ]


def create_server(address: str, config: ServerConfig | None = None) -> RunningServer:
    """Builds (does not start) a server bound to `address`, with the parts shutdown needs."""
    config = config or ServerConfig()
    check_overlay(config.overlay_path)
    classifier = Classifier(load_catalog(config.catalog_path, config.overlay_path))
    holder = ClassifierHolder(classifier)
    metrics = Metrics() if config.metrics_port is not None else NoMetrics()
    refused = metrics.refused_call if metrics.enabled else None
    interceptors = [  # outermost first
        # Admission is outermost: it turns unary handlers into ones that read their own
        # request (server/ops/arrival.py), which must see every inner wrapping. An
        # unauthenticated call holds a slot only while it is refused.
        *limit_interceptors(
            config.max_concurrent_rpcs,
            refused,
            CHECKS,
            config.stream_idle_timeout,
            config.max_health_watches,
            config.request_timeout,
        ),
        *config.interceptors,
        *auth_interceptors(config.token, refused),
    ]
    server = grpc.aio.server(options=server_options(config), interceptors=interceptors or None)
    servicer = ErrorCatalogServicer(holder, metrics)
    instrument(servicer, SERVICE, metrics)  # request ids for the logs, counts, timings
    metrics.catalog_loaded(classifier.catalog)
    holder.listeners.append(lambda current: metrics.catalog_loaded(current.catalog))
    add_servicer(servicer, server)  # Classify* may answer in bytes
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, GenericOnly(server))
    if config.reflection:  # as reflection.enable_server_reflection does for an aio server
        names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(names), GenericOnly(server)
        )
    try:
        if config.tls is not None:
            port = server.add_secure_port(address, server_credentials(config.tls))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio >= 1.66 raises where older ones returned 0
        port = 0
    if port == 0:
        raise OSError(f"cannot bind {address}: address in use or not available")
    return RunningServer(server, port, holder, health_servicer, metrics)


async def start(address: str, config: ServerConfig | None = None) -> RunningServer:
    """Creates and starts a server, then reports SERVING."""
    config = config or ServerConfig()
    running = create_server(address, config)
    await running.server.start()
    if config.metrics_port is not None:
        try:
            running.metrics.serve_http(
                config.metrics_host, config.metrics_port, config.metrics_token
            )
        except OSError:
            await running.server.stop(None)  # a started server would keep the process alive
            raise
    await _set_serving(running.health, health_pb2.HealthCheckResponse.SERVING)
    return running


async def _set_serving(servicer: health.aio.HealthServicer, status: int) -> None:
    for name in ("", SERVICE_NAME):
        await servicer.set(name, status)


async def shutdown(running: RunningServer, grace: float) -> None:
    """NOT_SERVING at once, then let in-flight calls finish within `grace` seconds."""
    await running.health.enter_graceful_shutdown()
    await running.server.stop(grace)
    running.metrics.close()


async def serve(
    address: str, config: ServerConfig | None = None, grace: float = DEFAULT_GRACE_SECONDS
) -> None:
    """Runs until SIGTERM or SIGINT; a second signal exits at once."""
    running = await start(address, config)
    heap.settle()  # start-up objects leave the GC's full collections (server/ops/gc_freeze.py)
    running.holder.listeners.append(heap.settle_after_reload)
    _LOGGER.info(
        "serving %s on %s (port %d), catalog %s, hot path %s",
        SERVICE_NAME,
        address,
        running.port,
        running.holder.current.version,
        hot_path.describe(),
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
    config = config or ServerConfig()
    on_result = running.metrics.reload_result
    reloader = CatalogReloader(running.holder, config.catalog_path, config.overlay_path, on_result)
    reloads = ReloadHandle(reloader, config.watch_interval)
    await stop.wait()
    await reloads.close()  # SIGHUP from here on is logged and ignored
    await shutdown(running, grace)
    ignore_sighup()
    _LOGGER.info("stopped")
