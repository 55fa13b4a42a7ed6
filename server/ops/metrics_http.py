"""The /metrics HTTP endpoint: few connections, short ones, and a token when asked.

prometheus_client's own server starts a thread per connection and waits on
each for ever, so 300 idle TCP connections were 300 threads. This one keeps
the same thread-per-request shape, Prometheus scrapes being rare and short,
with bounds: at most MAX_CONNECTIONS at once (more are closed on accept), a
READ_TIMEOUT per read, and a reaper that closes any connection still open
after MAX_CONNECTION_SECONDS, however slowly it drips. Only `GET /metrics`
is served; with a token, only to `Authorization: Bearer <token>`. Request
lines are not logged (a scrape every 15 s is not news).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

_LOGGER = logging.getLogger(__name__)

MAX_CONNECTIONS = 8
"""Connections served at once; a scraper needs one."""
READ_TIMEOUT = 5.0
"""Seconds a connection may stay silent while its request is read."""
MAX_CONNECTION_SECONDS = 15.0
"""Seconds any connection may stay open, sending or not."""


class MetricsServer(ThreadingHTTPServer):
    """Serves `registry` on /metrics with the bounds above."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: connections over the cap are closed, not queued

    def __init__(
        self, address: tuple[str, int], registry: CollectorRegistry, token: str | None
    ) -> None:
        self.registry = registry
        self.token = token.encode() if token else None
        self.refused = 0
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self._reaper = threading.Thread(target=self._reap, name="metrics-reaper", daemon=True)
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection if a slot is free; otherwise closed at once."""
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        with self._lock:
            self._open[request] = time.monotonic()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
        self._slots.release()

    def _reap(self) -> None:
        while not self._closed.wait(1.0):
            now = time.monotonic()
            with self._lock:
                late = [
                    s for s, began in self._open.items() if now - began > MAX_CONNECTION_SECONDS
                ]
            for sock in late:
                with contextlib.suppress(OSError):  # the handler's read fails; it ends
                    sock.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._closed.set()
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    timeout = READ_TIMEOUT
    protocol_version = "HTTP/1.0"  # one request per connection

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, b"only /metrics is served here\n")
            return
        token = self.server.token
        if token is not None and not _authorised(self.headers.get("Authorization"), token):
            self._reply(401, b"a bearer token is required\n", ("WWW-Authenticate", "Bearer"))
            return
        self._reply(
            200, generate_latest(self.server.registry), ("Content-Type", CONTENT_TYPE_LATEST)
        )

    def _reply(self, code: int, body: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name == "Content-Type" for name, _ in headers):
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: scrapes are routine; errors reach the log through log_error's caller."""


def _authorised(header: str | None, token: bytes) -> bool:
    if not header:
        return False
    scheme, _, supplied = header.encode("latin-1", "replace").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(supplied.strip(), token)


def serve(
    host: str, port: int, registry: CollectorRegistry, token: str | None
) -> tuple[MetricsServer, threading.Thread]:
    """Starts the endpoint in a daemon thread; OSError if host:port cannot be bound."""
    httpd = MetricsServer((host.strip("[]"), port), registry, token)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return httpd, thread
