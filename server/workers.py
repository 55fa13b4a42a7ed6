"""Pre-forked workers sharing one port (`python -m whatsapp_errors.server --workers N`).

A Python process classifies on one core at a time, so N processes each run
the whole server on the same port with `grpc.so_reuseport`, and the kernel
spreads new connections across them. The parent only supervises: it holds a
bound, never-listening SO_REUSEPORT socket to reserve the port (so port 0
works and the port is not taken between forks), forwards SIGTERM/SIGINT to
the workers, and exits when they have all stopped. It forks before creating
any gRPC object, so no gRPC state crosses the fork.

A worker that dies on its own (an OOM kill, a crash) is replaced, so the
port keeps answering; one whose replacements keep dying (MAX_RESTARTS
within RESTART_WINDOW_SECONDS: a crash loop, which a restart will not fix)
stops them all with exit status 2, for the orchestrator to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import replace
from types import FrameType

from whatsapp_errors.server.app import ServerConfig, serve
from whatsapp_errors.server.catalog import CatalogError, load_catalog
from whatsapp_errors.server.ops.overlay_guard import check_overlay

_LOGGER = logging.getLogger(__name__)

EXIT_WORKER_FAILED = 2


DEFAULT_WORKERS = 1
"""One process unless asked: on 2-core machines one measured best (bench/README.md)."""
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0
"""More than MAX_RESTARTS replacements within this window is a crash loop."""


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
    check_overlay(config.overlay_path)  # fail before forking
    load_catalog(config.catalog_path, config.overlay_path)
    try:
        reserved = reserve_port(host, port)
    except OSError as exc:
        raise OSError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    port = reserved.getsockname()[1]
    address = f"{host}:{port}"
    config = replace(config, reuse_port=True)
    pids: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        sig = signal.SIGKILL if stopping else signal.Signals(signum)
        stopping = True
        for pid in list(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def reload(signum: int, frame: FrameType | None) -> None:  # each worker reloads itself
        if stopping:
            _LOGGER.warning("SIGHUP while draining: no reload, the drain goes on")
            return
        for pid in list(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            reserved.close()
            os._exit(_worker(address, _own_metrics_port(config, index), grace))
        pids[pid] = index

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, reload)
    for index in range(workers):
        spawn(index)
    _LOGGER.info("%d workers on %s: %s", workers, address, list(pids))
    worst = 0
    restarts: deque[float] = deque()
    while pids:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = pids.pop(pid, -1)
        if index < 0:
            continue
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            if code not in (0, -signal.SIGTERM, -signal.SIGKILL):
                worst = max(worst, abs(code))
            continue
        now = time.monotonic()
        restarts.append(now)
        while restarts and now - restarts[0] > RESTART_WINDOW_SECONDS:
            restarts.popleft()
        if len(restarts) > MAX_RESTARTS:
            _LOGGER.error(
                "worker %d exited with %d: %d restarts within %gs is a crash loop; stopping",
                pid,
                code,
                len(restarts) - 1,
                RESTART_WINDOW_SECONDS,
            )
            worst = EXIT_WORKER_FAILED
            forward(signal.SIGTERM, None)
            continue
        _LOGGER.warning("worker %d exited with %d; starting a new one", pid, code)
        spawn(index)
    reserved.close()
    return worst
