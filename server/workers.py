"""Pre-forked workers sharing one port (`python -m server --workers N`).

A Python process classifies on one core at a time, so N processes each run
the whole server on the same port with `grpc.so_reuseport`, and the kernel
spreads new connections across them. The parent only supervises: it holds a
bound, never-listening SO_REUSEPORT socket to reserve the port (so port 0
works and the port is not taken between forks), forwards SIGTERM/SIGINT to
the workers, and exits when they have all stopped. It forks before creating
any gRPC object, so no gRPC state crosses the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from dataclasses import replace
from types import FrameType

from server.app import ServerConfig, serve
from server.catalog import CatalogError, load_catalog

_LOGGER = logging.getLogger(__name__)

EXIT_WORKER_FAILED = 2


DEFAULT_WORKERS = 1
"""One process unless asked: on 2-core machines one measured best (bench/README.md)."""


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening SO_REUSEPORT socket: fixes the port without taking connections."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(address: str, config: ServerConfig, grace: float) -> int:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until serve() installs the reload handler
    try:
        asyncio.run(serve(address, config, grace=grace))
    except CatalogError as exc:
        print(f"error: invalid catalog: {exc}", file=sys.stderr)
        return EXIT_WORKER_FAILED
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER_FAILED
    return 0


def _own_metrics_port(config: ServerConfig, index: int) -> ServerConfig:
    """Worker `index` serves /metrics on --metrics-port + index (0 stays "any free port")."""
    if not config.metrics_port:
        return config
    return replace(config, metrics_port=config.metrics_port + index)


def run_workers(host: str, port: int, config: ServerConfig, grace: float, workers: int) -> int:
    """Forks `workers` servers on host:port and supervises them; returns the exit code."""
    load_catalog(config.catalog_path, config.overlay_path)  # fail before forking
    reserved = reserve_port(host, port)
    port = reserved.getsockname()[1]
    address = f"{host}:{port}"
    config = replace(config, reuse_port=True)
    pids: list[int] = []
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        sig = signal.SIGKILL if stopping else signal.Signals(signum)
        stopping = True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def reload(signum: int, frame: FrameType | None) -> None:  # each worker reloads itself
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, reload)
    for index in range(workers):
        pid = os.fork()
        if pid == 0:
            reserved.close()
            os._exit(_worker(address, _own_metrics_port(config, index), grace))
        pids.append(pid)
    _LOGGER.info("%d workers on %s: %s", workers, address, pids)
    worst = 0
    alive = set(pids)
    while alive:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        alive.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if not stopping:  # a worker died on its own: stop the rest, report it
            _LOGGER.error("worker %d exited with %d; stopping the others", pid, code)
            worst = max(worst, EXIT_WORKER_FAILED if code == 0 else abs(code))
            forward(signal.SIGTERM, None)
        elif code not in (0, -signal.SIGTERM, -signal.SIGKILL):
            worst = max(worst, abs(code))
    reserved.close()
    return worst
