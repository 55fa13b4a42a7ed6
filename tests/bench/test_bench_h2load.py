"""bench/h2load.py and the sync-stack servers it measures, against real servers.

The parsers are checked on h2load's own output format; the end-to-end tests
start real servers on free ports and skip only when h2load is not installed
(Debian package nghttp2-client; .ci/run installs it when it can).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from bench import procs, workload
from bench.loadgen import SERVICE
from bench.probes import h2load
from bench.servers import classify_sync, reference
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_SUMMARY = """
finished in 999.32ms, 7123.00 req/s, 471.72KB/s
requests: 7123 total, 7187 started, 7123 done, 7123 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 7123 2xx, 0 3xx, 0 4xx, 0 5xx
"""
needs_h2load = pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load not installed")


def test_grpc_frame_is_flag_length_message() -> None:
    assert h2load.grpc_frame(b"\x08\x01") == b"\x00\x00\x00\x00\x02\x08\x01"
    assert h2load.grpc_frame(b"x" * 300)[:5] == b"\x00\x00\x00\x01\x2c"


def test_summary_rate_in_milliseconds_and_seconds() -> None:
    assert h2load.parse_summary(_SUMMARY) == {"req_per_s": 7123.0, "calls": 7123.0}
    seconds = _SUMMARY.replace("finished in 999.32ms", "finished in 3.00s")
    assert h2load.parse_summary(seconds)["req_per_s"] == 7123.0


def test_summary_with_a_failed_call_raises() -> None:
    failed = _SUMMARY.replace("7123 done, 7123 succeeded", "7123 done, 7122 succeeded")
    with pytest.raises(RuntimeError, match="calls failed"):
        h2load.parse_summary(failed)
    not_ok = _SUMMARY.replace("7123 2xx", "7120 2xx")
    with pytest.raises(RuntimeError, match="calls failed"):
        h2load.parse_summary(not_ok)


def test_summary_that_is_not_h2load_output_raises() -> None:
    with pytest.raises(RuntimeError, match="unexpected h2load output"):
        h2load.parse_summary("connect: Connection refused")


def test_log_rows_become_seconds_in_start_order() -> None:
    log = "1700000000500000\t200\t1500\n1700000000000000\t200\t250\n\n"
    assert h2load.parse_log(log) == [(1700000000.0, 0.00025), (1700000000.5, 0.0015)]
    with pytest.raises(RuntimeError, match="HTTP 503"):
        h2load.parse_log("1700000000000000\t503\t100\n")


def test_rotate_reverses_the_order_every_other_round() -> None:
    order: list[str] = []

    def run(name: str) -> float:
        order.append(name)
        return len(order)

    samples = h2load.rotate(["a", "b", "c"], 3, run)
    assert order == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert samples == {"a": [1, 6, 7], "b": [2, 5, 8], "c": [3, 4, 9]}


@pytest.fixture(scope="module")
def sync_reference() -> Iterator[procs.ServerProcess]:
    server = procs.start_server("reference-sync")
    yield server
    server.stop()


def test_sync_reference_answers_like_the_aio_one(sync_reference: procs.ServerProcess) -> None:
    with grpc.insecure_channel(sync_reference.target) as channel:
        unary = channel.unary_unary(f"{SERVICE}/Classify")
        assert unary(b"anything", timeout=10) == reference.UNARY_RESPONSE
        stream = channel.stream_stream(f"{SERVICE}/ClassifyStream")
        answers = list(stream(iter([b"a", b"b", b"c"]), timeout=10))
        assert answers == [reference.STREAM_RESPONSE] * 3


def test_check_answers_passes_both_servers_and_raises_when_none_answers(
    sync_reference: procs.ServerProcess,
) -> None:
    h2load.check_answers(sync_reference.target)
    server = procs.start_server("service")
    try:
        h2load.check_answers(server.target)
    finally:
        server.stop()
    with pytest.raises(grpc.RpcError) as raised:  # nothing serves this port any more
        h2load.check_answers(server.target, timeout=0.5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.fixture(scope="module")
def service_and_sync_classify() -> Iterator[tuple[procs.ServerProcess, procs.ServerProcess]]:
    service, sync = procs.start_server("service"), procs.start_server("classify-sync")
    yield service, sync
    service.stop()
    sync.stop()


def _classify(target: str, request: bytes) -> bytes | tuple[grpc.StatusCode, str, list[str]]:
    with grpc.insecure_channel(target) as channel:
        try:
            answer: bytes = channel.unary_unary(f"{SERVICE}/Classify")(request, timeout=10)
            return answer
        except grpc.RpcError as exc:
            keys = [key for key, _ in exc.trailing_metadata() or ()]
            return exc.code(), exc.details(), keys


def test_sync_classify_answers_exactly_as_the_service(
    service_and_sync_classify: tuple[procs.ServerProcess, procs.ServerProcess],
) -> None:
    service, sync = service_and_sync_classify
    requests = [
        workload.bare_code_request(),
        workload.webhook_request(workload.mixed_payloads(50)),
        pb.ClassifyRequest(text="(#131026) Message undeliverable").SerializeToString(),
    ]
    for request in requests:
        answer = _classify(sync.target, request)
        assert isinstance(answer, bytes) and len(answer) > 20
        assert answer == _classify(service.target, request)


def test_sync_classify_maps_errors_as_the_service(
    service_and_sync_classify: tuple[procs.ServerProcess, procs.ServerProcess],
) -> None:
    service, sync = service_and_sync_classify
    for request in (pb.ClassifyRequest(), pb.ClassifyRequest(code=-5), pb.ClassifyRequest(text="")):
        refused = _classify(sync.target, request.SerializeToString())
        assert refused == _classify(service.target, request.SerializeToString())
        assert isinstance(refused, tuple)
        code, _details, trailers = refused
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "grpc-status-details-bin" in trailers


def _stream(target: str, requests: list[bytes]) -> list[bytes] | tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(target) as channel:
        method = channel.stream_stream(f"{SERVICE}/ClassifyStream")
        try:
            return list(method(iter(requests), timeout=20))
        except grpc.RpcError as exc:
            return exc.code(), exc.details()


def test_sync_classify_streams_exactly_as_the_service(
    service_and_sync_classify: tuple[procs.ServerProcess, procs.ServerProcess],
) -> None:
    service, sync = service_and_sync_classify
    requests = workload.stream_requests(workload.mixed_payloads(300), batch=100, count=3)
    answers = _stream(sync.target, requests)
    assert isinstance(answers, list) and len(answers) == 3
    assert answers == _stream(service.target, requests)
    too_big = [pb.ClassifyStreamRequest(items=[pb.ClassifyItem(code=131026)] * 1001)]
    refused = _stream(sync.target, [m.SerializeToString() for m in too_big])
    assert refused == _stream(service.target, [m.SerializeToString() for m in too_big])
    assert refused[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_iterate_to_completion_yields_and_refuses_suspending() -> None:
    async def answers() -> AsyncIterator[int]:
        async for item in classify_sync.NeverSuspends(iter([1, 2, 3])):
            yield item * 10

    assert list(classify_sync.iterate_to_completion(answers())) == [10, 20, 30]

    async def suspends() -> AsyncIterator[int]:
        import asyncio

        yield 1
        await asyncio.sleep(0)
        yield 2

    steps = classify_sync.iterate_to_completion(suspends())
    assert next(steps) == 1
    with pytest.raises(RuntimeError, match="suspended"):
        next(steps)


def test_run_to_completion_refuses_a_handler_that_suspends() -> None:
    async def finishes() -> int:
        return 7

    async def suspends() -> None:
        import asyncio

        await asyncio.sleep(0)

    assert classify_sync.run_to_completion(finishes()) == 7
    with pytest.raises(RuntimeError, match="suspended"):
        classify_sync.run_to_completion(suspends())


@needs_h2load
def test_closed_and_open_loop_against_real_servers(
    sync_reference: procs.ServerProcess, tmp_path: Path
) -> None:
    load = h2load.H2Load(workload.bare_code_request(), tmp_path)
    service = procs.start_server("service")
    try:
        assert load.closed(service.target, 0.3) > 100
        row = load.open(service.target, 200, 0.5, 0.2, service.pids())
        again = load.open(sync_reference.target, 200, 0.5, 0.2, sync_reference.pids())
    finally:
        service.stop()
    for result in (row, again):  # the second run must not count the first run's log
        assert result["target_rate"] == 200
        assert 60 <= result["calls"] <= 140
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"] <= result["max_ms"]
        assert result["server_us_per_call"] > 0
        assert 0 <= result["slow_cpu_pct"] <= 100
        assert 0 < result["clean_calls_pct"] <= 100


@needs_h2load
def test_one_call_at_a_time_is_the_floor(
    sync_reference: procs.ServerProcess, tmp_path: Path
) -> None:
    load = h2load.H2Load(workload.bare_code_request(), tmp_path)
    row = load.open(sync_reference.target, 100, 0.5, 0.2, sync_reference.pids(), 1, 1)
    assert row["target_rate"] == 100  # one connection asked for all of it
    assert 30 <= row["calls"] <= 70
    assert 0 < row["p50_ms"] <= row["p99_ms"]


@needs_h2load
def test_measure_rotates_every_server_and_runs_the_open_loops() -> None:
    result = h2load.measure(**h2load.QUICK)
    names = {f"{kind}/w{workers}" for kind, workers in h2load.SERVERS}
    assert set(result["closed"]["req_per_s"]) == names
    assert all(len(v) == 2 for v in result["closed"]["samples"].values())
    assert all(v > 0 for v in result["closed"]["server_us_per_call"].values())
    assert result["unary_ratio_min"] <= result["unary_ratio"] <= result["unary_ratio_max"]
    assert result["sync_stack_ratio"] > 0
    opened = {(row["server"], row["fraction"]) for row in result["open"]}
    assert opened == {(s, f) for s in h2load.OPEN_SERVERS for f in h2load.OPEN_FRACTIONS}
    assert set(h2load.OPEN_SERVERS) <= names
    floors = {(row["server"], row["rate"]) for row in result["floor"]}
    assert floors == {(s, r) for s in h2load.FLOOR_SERVERS for r in h2load.FLOOR_RATES}
    assert all(row["target_rate"] == row["rate"] for row in result["floor"])
    assert set(h2load.FLOOR_SERVERS) <= names
    assert "service/w1 at 0.5" in h2load.table(result)
    assert "service/w1 alone 100/s" in h2load.table(result)
