"""Prometheus metrics on a side HTTP port (`--metrics-port`), cheap on the hot path.

Counting happens inside the servicer (`instrument` wraps each handler once;
service.py reports classified items and stream batches). The hot path only
bumps plain ints in dicts and one list slot per histogram observation, on
the event-loop thread; a collector (server/ops/metrics_collector.py, which
names the exported metrics) turns them into metric families when Prometheus
scrapes: prometheus_client's locked children would cost more per increment
than the whole count does here, three to four of them per call
(bench/README.md has the figures).
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

from whatsapp_errors.server.ops import metrics_http
from whatsapp_errors.server.ops.metrics_collector import MetricsCollector
from whatsapp_errors.server.ops.unknown_codes import UnknownCodes
from whatsapp_errors.v1 import error_catalog_pb2 as pb

if TYPE_CHECKING:
    from whatsapp_errors.server.catalog import Catalog
    from whatsapp_errors.server.classify.decide import Decision

_LOGGER = logging.getLogger(__name__)

REFUSAL_REASONS = (
    "unauthenticated",
    "too_many_rpcs",
    "undecodable_request",
    "unparsed_request",
    "idle_stream",
    "too_many_health_watches",
)
"""Why an interceptor ended a call (whatsapp_errors_refused_calls_total{reason})."""

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Handler seconds: a cached Classify takes microseconds, a stream may last minutes."""
BATCH_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
"""Items per ClassifyStream request (at most 1000, MAX_BATCH_ITEMS)."""


class Histogram:
    """A fixed-bucket histogram kept as plain numbers (no lock: one writer thread)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last slot is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Counts one observation (le semantics: value <= bound)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs as Prometheus wants them."""
        counts = list(self.counts)  # one atomic copy under the GIL
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


class Metrics:
    """Every number this server exports; mutated on the loop thread, read by scrapes."""

    enabled = True
    """False for NoMetrics: nothing is exported."""

    def __init__(self) -> None:
        self.unknown = UnknownCodes()
        """Codes met that no entry knows (kept with metrics off too: an RPC serves it)."""
        self.started: dict[tuple[str, str, str], int] = {}
        self.handled: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str, str], Histogram] = {}
        self.classifications: dict[tuple[int, int, int], int] = {}
        self.items = {"with_errors": 0, "without_errors": 0, "invalid": 0}
        self.batch = Histogram(BATCH_BUCKETS)
        self.catalog_version = ""
        self.catalog_load_seconds = 0.0
        self.catalog_loaded_at = 0.0
        self.reloads = {"success": 0, "failure": 0}
        self.refused = {reason: 0 for reason in REFUSAL_REASONS}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MetricsCollector(self))
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, RSS, fds
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._httpd: metrics_http.MetricsServer | None = None
        self._http_thread: threading.Thread | None = None
        self.port = 0

    # ---- classification (called from service.py) ---------------------------------

    def classified(self, decisions: Sequence[Decision]) -> None:
        """One item's decisions."""
        counts = self.classifications
        if not decisions:
            self.items["without_errors"] += 1
            return
        self.items["with_errors"] += 1
        inferred = False
        for decision in decisions:
            info = decision.info
            key = (info.category, decision.match_kind, info.retry_strategy)
            counts[key] = counts.get(key, 0) + 1
            inferred = inferred or info.source == pb.SOURCE_INFERRED
        if inferred:
            self.unknown.saw(decisions)

    def invalid_item(self) -> None:
        """One item the classifier could not read."""
        self.items["invalid"] += 1

    def stream_batch(self, size: int) -> None:
        """One ClassifyStream request of `size` items."""
        self.batch.observe(size)

    # ---- catalog --------------------------------------------------------------------

    def catalog_loaded(self, catalog: Catalog) -> None:
        """The catalog now served."""
        self.catalog_version = catalog.version
        self.catalog_load_seconds = catalog.load_seconds
        self.catalog_loaded_at = time.time()

    def reload_result(self, ok: bool) -> None:
        """One reload attempt."""
        self.reloads["success" if ok else "failure"] += 1

    # ---- refusals (called from the interceptors, before any handler runs) -------------

    def refused_call(self, reason: str) -> None:
        """One call ended by an interceptor: never reaches grpc_server_handled_total."""
        self.refused[reason] = self.refused.get(reason, 0) + 1

    # ---- HTTP endpoint ----------------------------------------------------------------

    def serve_http(self, host: str, port: int, token: str | None = None) -> int:
        """Serves /metrics on host:port in a daemon thread; returns the bound port.

        server/ops/metrics_http.py bounds its connections; `token` makes it
        answer only `Authorization: Bearer <token>`.
        """
        httpd, thread = metrics_http.serve(host, port, self.registry, token)
        self._httpd, self._http_thread = httpd, thread
        self.port = int(httpd.server_address[1])
        _LOGGER.info(
            "metrics on http://%s:%d/metrics (%s)",
            host,
            self.port,
            "bearer token required" if token else "no token",
        )
        return self.port

    def close(self) -> None:
        """Stops the HTTP endpoint, if any."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None


class NoMetrics(Metrics):
    """Metrics that count nothing, for a server started without a metrics port.

    Callers count unconditionally; this keeps "metrics off" out of every
    handler. The per-call RPC counters still run (dict bumps, no export).
    """

    enabled = False

    def classified(self, decisions: Sequence[Decision]) -> None:
        """Counts nothing but the unknown codes, which ListUnknownCodes serves."""
        for decision in decisions:
            if decision.info.source == pb.SOURCE_INFERRED:
                self.unknown.saw(decisions)
                return

    def invalid_item(self) -> None:
        """Counts nothing."""

    def stream_batch(self, size: int) -> None:
        """Counts nothing."""

    def serve_http(self, host: str, port: int, token: str | None = None) -> int:
        """Serves nothing: a server without a metrics port has no /metrics."""
        return 0
