"""bench/probes/h2load.py: its parsers, and its checks against real servers.

The parsers are checked on h2load's own output format. The checks are the
point: h2load counts an HTTP 200 as a success, and gRPC refuses a method it
does not have with a 200, so a wrong path must fail the check before the run
(a real gRPC call) and the run itself (DATA bytes against the answers). The
end-to-end tests start real servers on free ports and skip only when h2load
is not installed (`make bench-deps`, Debian package nghttp2-client).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import answers, procs, workload
from bench.names import CLASSIFY, SERVICE
from bench.probes import h2load

_SUMMARY = """
finished in 999.32ms, 7123.00 req/s, 471.72KB/s
requests: 7123 total, 7187 started, 7123 done, 7123 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 7123 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 460.62KB (471676) total, 13.93KB (14262) headers (space savings 96.15%), \
62.60KB (64107) data
"""
_FRAME = 9
"""The empty handler's answer as a gRPC frame: 5 + 4 bytes; 7123 x 9 = 64107."""
MISSPELLED = f"/{SERVICE}/Clasify"
DOUBLE_SLASH = f"/{CLASSIFY}"
"""The path every h2load call went to before the service name was spelled once."""
needs_h2load = pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load not installed")


def test_grpc_frame_is_flag_length_message() -> None:
    assert h2load.grpc_frame(b"\x08\x01") == b"\x00\x00\x00\x00\x02\x08\x01"
    assert h2load.grpc_frame(b"x" * 300)[:5] == b"\x00\x00\x00\x01\x2c"


def test_summary_rate_in_milliseconds_and_seconds() -> None:
    parsed = h2load.parse_summary(_SUMMARY, CLASSIFY, _FRAME)
    assert parsed == {"req_per_s": 7123.0, "calls": 7123.0, "data_bytes": 64107.0}
    seconds = _SUMMARY.replace("finished in 999.32ms", "finished in 3.00s")
    assert h2load.parse_summary(seconds, CLASSIFY, _FRAME)["req_per_s"] == 7123.0


def test_summary_with_a_failed_call_raises() -> None:
    failed = _SUMMARY.replace("7123 done, 7123 succeeded", "7123 done, 7122 succeeded")
    with pytest.raises(answers.WrongAnswerError, match="calls failed"):
        h2load.parse_summary(failed, CLASSIFY, _FRAME)
    not_ok = _SUMMARY.replace("7123 2xx", "7120 2xx")
    with pytest.raises(answers.WrongAnswerError, match="calls failed"):
        h2load.parse_summary(not_ok, CLASSIFY, _FRAME)


def test_summary_of_200s_without_the_answers_raises() -> None:
    refused = _SUMMARY.replace("62.60KB (64107) data", "0B (0) data")  # UNIMPLEMENTED: no DATA
    with pytest.raises(answers.WrongAnswerError, match=r"0 DATA bytes .* no call got") as raised:
        h2load.parse_summary(refused, DOUBLE_SLASH, _FRAME)
    assert DOUBLE_SLASH in str(raised.value) and "7123 2xx" in str(raised.value)
    one_short = _SUMMARY.replace("(64107) data", f"({64107 - _FRAME}) data")
    with pytest.raises(answers.WrongAnswerError, match="not every call"):
        h2load.parse_summary(one_short, CLASSIFY, _FRAME)
    with pytest.raises(answers.WrongAnswerError, match="7123 x 248"):  # another answer's size
        h2load.parse_summary(_SUMMARY, CLASSIFY, 248)


def test_summary_that_is_not_h2load_output_raises() -> None:
    with pytest.raises(RuntimeError, match="unexpected h2load output"):
        h2load.parse_summary("connect: Connection refused", CLASSIFY, _FRAME)
    no_traffic = "\n".join(line for line in _SUMMARY.splitlines() if "traffic" not in line)
    with pytest.raises(RuntimeError, match="unexpected h2load output"):
        h2load.parse_summary(no_traffic, CLASSIFY, _FRAME)


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
def servers() -> Iterator[dict[str, procs.ServerProcess]]:
    started: dict[str, procs.ServerProcess] = {}
    try:  # a server that fails to start must not leave the other running
        for kind in ("reference", "service"):
            started[kind] = procs.start_server(kind)
        yield started
    finally:
        for server in started.values():
            server.stop()


def test_check_passes_on_the_path_it_loads(servers: dict[str, procs.ServerProcess]) -> None:
    request = workload.bare_code_request()
    empty = h2load.check_answers(
        servers["reference"].target, CLASSIFY, request, answers.EMPTY_UNARY
    )
    assert empty.frame == 5 + len(answers.EMPTY_UNARY)
    service = h2load.check_answers(servers["service"].target, CLASSIFY, request, None)
    assert service.frame > 5 + 20  # a real classification, not a few bytes


@pytest.mark.parametrize("path", [MISSPELLED, DOUBLE_SLASH])
@pytest.mark.parametrize("kind", ["reference", "service"])
def test_check_fails_on_a_wrong_path(
    servers: dict[str, procs.ServerProcess], kind: str, path: str
) -> None:
    request = workload.bare_code_request()
    with pytest.raises(answers.WrongAnswerError, match="UNIMPLEMENTED") as raised:
        h2load.check_answers(servers[kind].target, path, request, answers.unary_expected(kind))
    assert path in str(raised.value)


def test_check_fails_on_another_servers_answer(servers: dict[str, procs.ServerProcess]) -> None:
    request = workload.bare_code_request()
    with pytest.raises(answers.WrongAnswerError, match="catalog version ''"):
        h2load.check_answers(servers["reference"].target, CLASSIFY, request, None)
    with pytest.raises(answers.WrongAnswerError, match="expected"):
        h2load.check_answers(servers["service"].target, CLASSIFY, request, answers.EMPTY_UNARY)


def test_check_fails_when_nothing_answers() -> None:
    target = f"{procs.HOST}:{procs.free_port()}"
    with pytest.raises(answers.WrongAnswerError, match="DEADLINE_EXCEEDED"):
        h2load.check_answers(target, CLASSIFY, workload.bare_code_request(), None, timeout=0.5)


@needs_h2load
@pytest.mark.parametrize("path", [MISSPELLED, DOUBLE_SLASH])
def test_a_run_on_a_wrong_path_fails_even_when_the_check_was_passed(
    servers: dict[str, procs.ServerProcess], tmp_path: Path, path: str
) -> None:
    """The old defect: the check called the right path, h2load loaded another."""
    server = servers["reference"]
    right = h2load.check_answers(
        server.target, CLASSIFY, workload.bare_code_request(), answers.EMPTY_UNARY
    )
    load = h2load.H2Load(workload.bare_code_request(), tmp_path, path=path)
    with pytest.raises(answers.WrongAnswerError, match="0 DATA bytes") as raised:
        load.closed(right, 0.3)
    assert path in str(raised.value)
    with pytest.raises(answers.WrongAnswerError, match="0 DATA bytes"):
        load.open(right, 200, 0.3, 0.1, server.pids())
    with pytest.raises(answers.WrongAnswerError, match="UNIMPLEMENTED"):
        load.check(server.target, answers.EMPTY_UNARY)  # its own check catches it first


@needs_h2load
def test_a_run_against_another_server_than_checked_fails(
    servers: dict[str, procs.ServerProcess], tmp_path: Path
) -> None:
    load = h2load.H2Load(workload.bare_code_request(), tmp_path)
    service = load.check(servers["service"].target, None)
    elsewhere = h2load.Checked(servers["reference"].target, service.frame)
    with pytest.raises(answers.WrongAnswerError, match="not every call"):
        load.closed(elsewhere, 0.3)


@needs_h2load
def test_closed_and_open_loop_on_the_right_path(
    servers: dict[str, procs.ServerProcess], tmp_path: Path
) -> None:
    load = h2load.H2Load(workload.bare_code_request(), tmp_path)
    service = load.check(servers["service"].target, None)
    empty = load.check(servers["reference"].target, answers.EMPTY_UNARY)
    assert load.closed(service, 0.3) > 100
    row = load.open(service, 200, 0.5, 0.2, servers["service"].pids())
    again = load.open(empty, 200, 0.5, 0.2, servers["reference"].pids())
    for result in (row, again):  # the second run must not count the first run's log
        assert result["target_rate"] == 200
        assert 60 <= result["calls"] <= 140
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"] <= result["max_ms"]
        assert result["server_us_per_call"] > 0
        assert 0 <= result["slow_cpu_pct"] <= 100
        assert 0 < result["clean_calls_pct"] <= 100


@needs_h2load
def test_measure_checks_rotates_every_server_and_runs_the_open_loops() -> None:
    result = h2load.measure(**h2load.QUICK)
    names = {f"{kind}/w{workers}" for kind, workers in h2load.SERVERS}
    assert result["path"] == CLASSIFY
    assert result["answer_frame_bytes"]["reference/w1"] == 5 + len(answers.EMPTY_UNARY)
    assert result["answer_frame_bytes"]["service/w1"] == result["answer_frame_bytes"]["service/w2"]
    assert set(result["closed"]["req_per_s"]) == names
    assert all(len(v) == 2 for v in result["closed"]["samples"].values())
    assert all(v > 0 for v in result["closed"]["server_us_per_call"].values())
    assert result["unary_ratio_min"] <= result["unary_ratio"] <= result["unary_ratio_max"]
    assert {row["server"] for row in result["open"]} == set(h2load.OPEN_SERVERS)
    assert set(h2load.OPEN_SERVERS) <= names
    assert "service/w1 at 0.5" in h2load.table(result)
    assert CLASSIFY in h2load.table(result)
