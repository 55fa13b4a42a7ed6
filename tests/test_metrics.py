"""Prometheus metrics: a real server with --metrics-port, real calls, a real scrape.

Counts are checked exactly against the calls made, and label values are
taken from the responses themselves (not hard-coded), so the test follows
the catalog.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerThread
from tests.support.processes import ROOT, free_port, wait_serving
from tests.test_limits import OpenStream
from whatsapp_errors.server.app import SERVICE_NAME, ServerConfig
from whatsapp_errors.server.ops.metrics_http import MAX_CONNECTIONS, READ_TIMEOUT
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> tuple[Samples, dict[str, str]]:
    """Every sample on /metrics keyed by (name, labels), and each family's type."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def rpc(method: str, kind: str = "unary", **extra: str) -> dict[str, str]:
    """The grpc_* labels of one method."""
    return {"grpc_service": SERVICE_NAME, "grpc_method": method, "grpc_type": kind, **extra}


@pytest.fixture(scope="module")
def metrics_server() -> Iterator[ServerThread]:
    """A real server with metrics on a free port."""
    thread = ServerThread(ServerConfig(metrics_port=0)).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def metrics_stub(metrics_server: ServerThread) -> Iterator[pb_grpc.ErrorCatalogServiceStub]:
    with grpc.insecure_channel(metrics_server.target) as channel:
        yield pb_grpc.ErrorCatalogServiceStub(channel)


def _labels_of(classification: pb.Classification) -> dict[str, str]:
    info = classification.error_info
    return {
        "category": pb.Category.Name(info.category).removeprefix("CATEGORY_"),
        "match_kind": pb.MatchKind.Name(classification.match_kind).removeprefix("MATCH_KIND_"),
        "action": pb.RetryStrategy.Name(info.retry_strategy).removeprefix("RETRY_STRATEGY_"),
    }


def test_counts_follow_real_calls(
    metrics_server: ServerThread, metrics_stub: pb_grpc.ErrorCatalogServiceStub
) -> None:
    port = metrics_server.running.metrics.port
    before, _ = scrape(port)

    bare = [metrics_stub.Classify(pb.ClassifyRequest(code=131026)) for _ in range(5)]
    text = metrics_stub.Classify(pb.ClassifyRequest(text="Rate limit hit, too many messages"))
    with pytest.raises(grpc.RpcError) as missing:
        metrics_stub.GetError(pb.GetErrorRequest(code=987654321))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as invalid:
        metrics_stub.Classify(pb.ClassifyRequest(payload=b""))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    batches = [
        pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id=str(i), code=131026) for i in range(3)]),
        pb.ClassifyStreamRequest(
            items=[pb.ClassifyItem(id="bad", payload=b"{not json")]
            + [pb.ClassifyItem(id=str(i), code=131026) for i in range(4)]
        ),
    ]
    answers = list(metrics_stub.ClassifyStream(iter(batches)))
    assert [len(a.results) for a in answers] == [3, 5]

    after, types = scrape(port)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("grpc_server_started_total", **rpc("Classify")) == 7
    assert delta("grpc_server_handled_total", **rpc("Classify", grpc_code="OK")) == 6
    assert delta("grpc_server_handled_total", **rpc("Classify", grpc_code="INVALID_ARGUMENT")) == 1
    assert delta("grpc_server_handled_total", **rpc("GetError", grpc_code="NOT_FOUND")) == 1
    assert delta("grpc_server_started_total", **rpc("ClassifyStream", "bidi_stream")) == 1
    assert (
        delta("grpc_server_handled_total", **rpc("ClassifyStream", "bidi_stream", grpc_code="OK"))
        == 1
    )
    # Every handled call is one latency observation, and +Inf holds them all.
    assert delta("grpc_server_handling_seconds_count", **rpc("Classify")) == 7
    assert delta("grpc_server_handling_seconds_bucket", **rpc("Classify", le="+Inf")) == 7
    assert delta("grpc_server_handling_seconds_sum", **rpc("Classify")) > 0
    assert types["grpc_server_handling_seconds"] == "histogram"

    # 5 unary + 7 streamed bare codes, all with the labels the responses carry.
    code_labels = _labels_of(bare[0].classifications[0])
    assert delta("whatsapp_errors_classifications_total", **code_labels) == 12
    text_labels = _labels_of(text.classifications[0])
    if text_labels != code_labels:
        assert delta("whatsapp_errors_classifications_total", **text_labels) == len(
            [c for c in text.classifications if _labels_of(c) == text_labels]
        )
    assert delta("whatsapp_errors_items_total", outcome="invalid") == 2
    assert delta("whatsapp_errors_items_total", outcome="with_errors") == 5 + 1 + 7

    assert delta("whatsapp_errors_stream_batch_items_count") == 2
    assert delta("whatsapp_errors_stream_batch_items_sum") == 8
    assert delta("whatsapp_errors_stream_batch_items_bucket", le="2.0") == 0
    assert delta("whatsapp_errors_stream_batch_items_bucket", le="5.0") == 2

    assert value(after, "whatsapp_errors_catalog_info", version=bare[0].catalog_version) == 1
    assert value(after, "whatsapp_errors_catalog_load_seconds") > 0
    assert value(after, "whatsapp_errors_catalog_loaded_timestamp_seconds") > 1.7e9
    assert value(after, "process_cpu_seconds_total") > 0


def test_names_follow_prometheus_conventions(
    metrics_server: ServerThread, metrics_stub: pb_grpc.ErrorCatalogServiceStub
) -> None:
    metrics_stub.Classify(pb.ClassifyRequest(code=999_001), timeout=5)  # an unknown code's series
    port = metrics_server.running.metrics.port
    samples, types = scrape(port)
    ours = {n: t for n, t in types.items() if n.startswith(("grpc_", "whatsapp_errors_"))}
    assert len(ours) == 12
    for name, kind in ours.items():
        assert name == name.lower() and " " not in name, name
        if kind == "counter":
            assert any(s[0] == f"{name}_total" for s in samples), name
        if kind == "histogram":
            assert name.endswith(("_seconds", "_items")), name
    # Every series of a family carries the same label names.
    by_family: dict[str, set[frozenset[str]]] = {}
    for sample_name, labels in samples:
        if sample_name.startswith("whatsapp_errors_classifications"):
            by_family.setdefault(sample_name, set()).add(frozenset(k for k, _ in labels))
    assert all(len(label_sets) == 1 for label_sets in by_family.values())


def test_metrics_are_off_unless_asked(server: ServerThread) -> None:
    assert not server.running.metrics.enabled


def test_a_stream_past_its_deadline_is_counted_as_deadline_exceeded(
    metrics_server: ServerThread, metrics_stub: pb_grpc.ErrorCatalogServiceStub
) -> None:
    """grpc.aio may end the handler's request stream normally at the deadline: still counted."""
    port = metrics_server.running.metrics.port
    labels = rpc("ClassifyStream", "bidi_stream", grpc_code="DEADLINE_EXCEEDED")
    before = value(scrape(port)[0], "grpc_server_handled_total", **labels)
    release = threading.Event()

    def stalled() -> Iterator[pb.ClassifyStreamRequest]:
        yield pb.ClassifyStreamRequest(items=[pb.ClassifyItem(code=131026)])
        release.wait(30)  # sends nothing more until the deadline has passed

    for _ in range(3):
        answers = metrics_stub.ClassifyStream(stalled(), timeout=0.3)
        with pytest.raises(grpc.RpcError) as ended:
            list(answers)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    release.set()
    deadline = time.monotonic() + 10
    while value(scrape(port)[0], "grpc_server_handled_total", **labels) != before + 3:
        assert time.monotonic() < deadline, "the expired streams were not counted"
        time.sleep(0.05)


def test_calls_refused_before_any_handler_are_counted_by_reason() -> None:
    """Auth, the in-flight limit and undecodable bytes end calls in interceptors."""
    guarded = ServerThread(ServerConfig(metrics_port=0, token="s3cret")).start()
    limited = ServerThread(ServerConfig(metrics_port=0, max_concurrent_rpcs=1)).start()
    try:
        with grpc.insecure_channel(guarded.target) as channel:
            stub = pb_grpc.ErrorCatalogServiceStub(channel)
            for metadata in ((), (("authorization", "Bearer wrong"),)):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.GetError(pb.GetErrorRequest(code=131047), metadata=metadata, timeout=10)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            raw = channel.unary_unary(f"/{SERVICE_NAME}/Classify")
            with pytest.raises(grpc.RpcError) as garbage:
                raw(b"\xff\xff\xff", metadata=(("authorization", "Bearer s3cret"),), timeout=10)
            assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with grpc.insecure_channel(limited.target) as channel:
            stub = pb_grpc.ErrorCatalogServiceStub(channel)
            held = OpenStream(stub)
            assert [r.id for r in held.first().results] == ["1"]
            with pytest.raises(grpc.RpcError) as busy:
                stub.GetError(pb.GetErrorRequest(code=131047), timeout=10)
            assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            held.close()

        guarded_samples, types = scrape(guarded.running.metrics.port)
        limited_samples, _ = scrape(limited.running.metrics.port)
        name = "whatsapp_errors_refused_calls_total"
        assert types["whatsapp_errors_refused_calls"] == "counter"
        assert value(guarded_samples, name, reason="unauthenticated") == 2
        assert value(guarded_samples, name, reason="undecodable_request") == 1
        assert value(guarded_samples, name, reason="too_many_rpcs") == 0
        assert value(limited_samples, name, reason="too_many_rpcs") == 1
        assert value(limited_samples, name, reason="unauthenticated") == 0
        # None of them reached a handler, so none is in the per-method counts.
        assert value(guarded_samples, "grpc_server_started_total", **rpc("GetError")) == 0
        assert value(guarded_samples, "grpc_server_started_total", **rpc("Classify")) == 0
        assert value(limited_samples, "grpc_server_started_total", **rpc("GetError")) == 0
    finally:
        guarded.stop()
        limited.stop()


def test_unknown_codes_are_tallied_for_the_rpc_and_the_metric(
    metrics_server: ServerThread, metrics_stub: pb_grpc.ErrorCatalogServiceStub
) -> None:
    """A code no entry knows is counted with its title; known codes and absent codes are not."""
    body = {
        "entry": [
            {
                "changes": [
                    {
                        "value": {
                            "statuses": [
                                {
                                    "id": "wamid.U",
                                    "status": "failed",
                                    "recipient_id": "6281234567890",
                                    "errors": [
                                        {"code": 987_123, "title": "Brand new 6281234567890"},
                                        {"code": 987_123, "title": "Brand new"},
                                        {"code": 131047, "title": "Re-engagement message"},
                                    ],
                                }
                            ]
                        }
                    }
                ]
            }
        ]
    }
    metrics_stub.Classify(pb.ClassifyRequest(payload=json.dumps(body).encode()), timeout=5)
    reply = metrics_stub.ListUnknownCodes(pb.ListUnknownCodesRequest(page_size=1000), timeout=5)
    tallied = {c.code: c for c in reply.codes}
    assert tallied[987_123].count == 2
    assert tallied[987_123].title == "Brand new"
    assert tallied[987_123].first_seen.seconds <= tallied[987_123].last_seen.seconds
    assert 131047 not in tallied
    assert reply.distinct_codes >= len(reply.codes)
    samples, _ = scrape(metrics_server.running.metrics.port)
    assert value(samples, "whatsapp_errors_unknown_codes_total", code="987123") == 2


def test_unknown_code_titles_never_keep_a_phone_number(
    metrics_stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    metrics_stub.Classify(
        pb.ClassifyRequest(error=pb.StructuredError(code=987_555, title="to 6281234567890 failed")),
        timeout=5,
    )
    reply = metrics_stub.ListUnknownCodes(pb.ListUnknownCodesRequest(), timeout=5)
    (seen,) = [c for c in reply.codes if c.code == 987_555]
    assert "6281234567890" not in seen.title and seen.title == "to … failed"


# ---- D7: the metrics port is safe by default ------------------------------------------------


def _get(port: int, path: str = "/metrics", token: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            status: int = reply.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def _listening_on(port: int) -> set[str]:
    """The local addresses listening on `port`, from the kernel's own table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, _remote, state = line.split()[1:4]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                    found.add(address)
    return found


def _server(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    port, metrics_port = free_port(), free_port()
    popen = subprocess.Popen(
        [
            *(sys.executable, "-m", "whatsapp_errors.server", "--port", str(port)),
            *("--metrics-port", str(metrics_port), *args, "--log-level", "WARNING"),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    wait_serving(port, timeout=30)
    deadline = time.monotonic() + 10
    while not _listening_on(metrics_port):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return popen, metrics_port


def test_d7_metrics_listen_on_loopback_unless_asked() -> None:
    loopback, any_address = "0100007F", "00000000"
    popen, metrics_port = _server("--host", "0.0.0.0", "--insecure")
    try:
        assert _listening_on(metrics_port) == {loopback}  # not the --host value
    finally:
        popen.terminate()
        popen.wait(timeout=30)
    popen, metrics_port = _server("--metrics-host", "0.0.0.0")
    try:
        assert _listening_on(metrics_port) == {any_address}
    finally:
        popen.terminate()
        popen.wait(timeout=30)


def test_d7_a_metrics_token_is_required_when_set() -> None:
    thread = ServerThread(ServerConfig(metrics_port=0, metrics_token="m3trics")).start()
    try:
        port = thread.running.metrics.port
        assert _get(port) == 401
        assert _get(port, token="wrong") == 401
        assert _get(port, token="m3trics") == 200
        assert _get(port, "/x/../../etc/passwd", token="m3trics") == 404
    finally:
        thread.stop()


def test_d7_the_token_comes_from_waerr_metrics_token_too() -> None:
    env = {**os.environ, "WAERR_METRICS_TOKEN": "from-env"}
    popen, metrics_port = _server(env=env)
    try:
        assert _get(metrics_port) == 401
        assert _get(metrics_port, token="from-env") == 200
    finally:
        popen.terminate()
        popen.wait(timeout=30)


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def test_d7_idle_connections_cost_no_thread_each_and_are_dropped() -> None:
    """300 idle TCP connections were 300 threads, held for ever."""
    popen, metrics_port = _server()
    try:
        assert _get(metrics_port) == 200
        before = _threads(popen.pid)
        idle = [socket.create_connection(("127.0.0.1", metrics_port)) for _ in range(300)]
        time.sleep(0.5)
        during = _threads(popen.pid)
        assert during <= before + MAX_CONNECTIONS, (before, during)
        time.sleep(READ_TIMEOUT + 1.5)  # the silent ones are closed by the server
        closed = 0
        for sock in idle:
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                closed += sock.recv(1) == b""
            sock.close()
        assert closed == len(idle)
        assert _get(metrics_port) == 200
        assert _threads(popen.pid) <= before + 1
    finally:
        popen.terminate()
        popen.wait(timeout=30)
