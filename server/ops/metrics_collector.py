"""The exported metrics: what `Metrics` counted, as Prometheus metric families at scrape time.

server/ops/metrics.py keeps plain counts on the hot path; this turns them
into families only when Prometheus scrapes. Names follow Prometheus
conventions and the go-grpc-prometheus family for RPCs, so stock gRPC
dashboards work:

- `grpc_server_started_total{grpc_service,grpc_method,grpc_type}`
- `grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}`
- `grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type}` (histogram)
- `whatsapp_errors_classifications_total{category,match_kind,action}`
- `whatsapp_errors_items_total{outcome}` (with_errors, without_errors, invalid)
- `whatsapp_errors_stream_batch_items` (histogram of items per ClassifyStream request)
- `whatsapp_errors_catalog_info{version}`, `whatsapp_errors_catalog_load_seconds`,
  `whatsapp_errors_catalog_loaded_timestamp_seconds`,
  `whatsapp_errors_catalog_reloads_total{result}`
- `whatsapp_errors_refused_calls_total{reason}`, `whatsapp_errors_unknown_codes_total{code}`
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from whatsapp_errors.v1 import error_catalog_pb2 as pb

if TYPE_CHECKING:
    from whatsapp_errors.server.ops.metrics import Metrics

UNKNOWN_SERIES = 50
"""Unknown codes exported as series: bounded so junk codes cannot blow up Prometheus."""


class MetricsCollector(Collector):
    """Turns `Metrics` into metric families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._m
        started = _counter(
            "grpc_server_started",
            "RPCs started on the server.",
            ["grpc_service", "grpc_method", "grpc_type"],
            m.started,
        )
        handled = _counter(
            "grpc_server_handled",
            "RPCs completed on the server, by gRPC status code.",
            ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
            m.handled,
        )
        latency = HistogramMetricFamily(
            "grpc_server_handling_seconds",
            "Seconds from the handler's start to its end (a stream's whole life).",
            labels=["grpc_service", "grpc_method", "grpc_type"],
        )
        for key, hist in dict(m.latency).items():
            latency.add_metric(list(key), hist.buckets(), hist.total)
        classifications = CounterMetricFamily(
            "whatsapp_errors_classifications",
            "Errors classified, by category, match kind and action (the retry strategy).",
            labels=["category", "match_kind", "action"],
        )
        for (category, kind, strategy), value in dict(m.classifications).items():
            classifications.add_metric(
                [
                    _enum_name(pb.Category, category, "CATEGORY_"),
                    _enum_name(pb.MatchKind, kind, "MATCH_KIND_"),
                    _enum_name(pb.RetryStrategy, strategy, "RETRY_STRATEGY_"),
                ],
                value,
            )
        items = _counter(
            "whatsapp_errors_items",
            "Items classified (Classify, ClassifyStream, SummarizeErrors), by outcome.",
            ["outcome"],
            m.items,
        )
        batch = HistogramMetricFamily(
            "whatsapp_errors_stream_batch_items", "Items per ClassifyStream request."
        )
        batch.add_metric([], m.batch.buckets(), m.batch.total)
        info = GaugeMetricFamily(
            "whatsapp_errors_catalog_info",
            "The catalog being served (always 1), labelled with its version.",
            labels=["version"],
        )
        info.add_metric([m.catalog_version], 1)
        load = GaugeMetricFamily(
            "whatsapp_errors_catalog_load_seconds",
            "Seconds the served catalog took to read, validate and index.",
            value=m.catalog_load_seconds,
        )
        loaded_at = GaugeMetricFamily(
            "whatsapp_errors_catalog_loaded_timestamp_seconds",
            "Unix time the served catalog was put in service.",
            value=m.catalog_loaded_at,
        )
        reloads = _counter(
            "whatsapp_errors_catalog_reloads",
            "Catalog reload attempts (SIGHUP or file watch), by result.",
            ["result"],
            m.reloads,
        )
        refused = _counter(
            "whatsapp_errors_refused_calls",
            "Calls ended before any handler ran: no or a wrong token (unauthenticated), "
            "over --max-concurrent-rpcs (too_many_rpcs), bytes that are no request "
            "(undecodable_request), refused before parsing (unparsed_request), no request "
            "for --stream-idle-timeout (idle_stream), over --max-health-watches "
            "(too_many_health_watches).",
            ["reason"],
            m.refused,
        )
        yield from (started, handled, latency, classifications, items, batch)
        unknown = CounterMetricFamily(
            "whatsapp_errors_unknown_codes",
            f"Errors carrying a code no catalog entry knows, by code (the {UNKNOWN_SERIES} "
            "most frequent; ListUnknownCodes has more).",
            labels=["code"],
        )
        for code, seen in m.unknown.top(UNKNOWN_SERIES):
            unknown.add_metric([str(code)], seen.count)
        yield from (info, load, loaded_at, reloads, refused, unknown)


def _counter(
    name: str, documentation: str, labels: list[str], values: Mapping[Any, int]
) -> CounterMetricFamily:
    """A counter family from a dict keyed by one label value or a tuple of them."""
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in dict(values).items():  # a copy: calls may add keys meanwhile
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)
