"""The reliability review's worst requests, each against a fresh `python -m whatsapp_errors.server`.

For each case (D1-D4 of ../shared/docs/reliability_review.md, the widest
bodies of B8 and B12, and an 8 MiB batch of empty items) the test checks:

- the answer: served, or refused with the status that names the budget;
- the loop: a health prober in another process (so the test's own work
  cannot hold its GIL) checks every 20 ms while the request is served, and
  its slowest answer must come within HEALTH_BOUND_S;
- memory: the server's peak RSS (VmHWM, a fresh process per case) stays
  under PEAK_RSS_MIB, the pod having 256 MiB.

Requests are serialised before the prober starts and sent as bytes. Each
case prints its figures (`pytest -s tests/test_worst_cases.py`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import orjson
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.support.processes import ROOT, free_port, wait_serving
from whatsapp_errors.v1 import error_catalog_pb2 as pb

HEALTH_BOUND_S = 0.1
PEAK_RSS_MIB = 200
SERVICE = "/whatsapp.errors.v1.ErrorCatalogService"
BIG = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]

PROBER = """
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
print("ready", flush=True)
worst, count, failed = 0.0, 0, 0
import select
while not select.select([sys.stdin], [], [], 0.02)[0]:
    began = time.perf_counter()
    try:
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    except grpc.RpcError:
        failed += 1
    worst = max(worst, time.perf_counter() - began)
    count += 1
print(worst, count, failed, flush=True)
"""


@dataclass
class Served:
    """One fresh server process and what it cost."""

    popen: subprocess.Popen[bytes]
    target: str

    def peak_rss_mib(self) -> float:
        with open(f"/proc/{self.popen.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")


@pytest.fixture
def served() -> Iterator[Served]:
    port = free_port()
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_serving(port, timeout=30)
        yield Served(popen, f"127.0.0.1:{port}")
    finally:
        popen.terminate()
        popen.wait(timeout=30)


def under_probe(served: Served, call: Callable[[], object]) -> tuple[object, float]:
    """`call()`'s result (or its grpc.RpcError) and the slowest health answer meanwhile."""
    prober = subprocess.Popen(
        [sys.executable, "-c", PROBER, served.target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert prober.stdout is not None and prober.stdin is not None
    assert prober.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    try:
        outcome: object = call()
    except grpc.RpcError as exc:
        outcome = exc
    time.sleep(0.1)
    prober.stdin.close()
    worst, count, failed = prober.stdout.readline().split()
    prober.wait(timeout=10)
    assert int(failed) == 0 and int(count) > 0
    return outcome, float(worst)


def unary(served: Served, method: str, request: bytes, timeout: float = 60) -> bytes:
    with grpc.insecure_channel(served.target, options=BIG) as channel:
        answer: bytes = channel.unary_unary(f"{SERVICE}/{method}")(request, timeout=timeout)
        return answer


def streamed(served: Served, method: str, request: bytes) -> list[bytes]:
    with grpc.insecure_channel(served.target, options=BIG) as channel:
        return list(channel.stream_stream(f"{SERVICE}/{method}")(iter([request]), timeout=60))


def summarized(served: Served, request: bytes) -> bytes:
    with grpc.insecure_channel(served.target, options=BIG) as channel:
        answer: bytes = channel.stream_unary(f"{SERVICE}/SummarizeErrors")(
            iter([request]), timeout=60
        )
        return answer


def budget_of(error: object) -> str:
    """The budget a RESOURCE_EXHAUSTED refusal names in its ErrorInfo."""
    assert isinstance(error, grpc.RpcError), error
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    next(d for d in status.details if d.Is(info.DESCRIPTOR)).Unpack(info)
    assert info.reason == "REQUEST_BUDGET_EXCEEDED"
    budget: str = info.metadata["budget"]
    return budget


def report(served: Served, case: str, worst: float, elapsed: float) -> float:
    peak = served.peak_rss_mib()
    print(f"\n{case}: {elapsed:.2f}s, slowest health {worst * 1e3:.0f} ms, peak RSS {peak:.0f} MiB")
    assert worst < HEALTH_BOUND_S, f"{case}: health took {worst * 1e3:.0f} ms"
    assert peak < PEAK_RSS_MIB, f"{case}: peak RSS {peak:.0f} MiB"
    return peak


def timed(call: Callable[[], object]) -> tuple[Callable[[], object], list[float]]:
    spent: list[float] = []

    def run() -> object:
        began = time.perf_counter()
        try:
            return call()
        finally:
            spent.append(time.perf_counter() - began)

    return run, spent


# ---- D1: a quadratic text rule --------------------------------------------------------

SSL = "ssl " * 1024


def test_d1_a_740_kb_body_of_ssl_texts_is_answered_without_stalling_health(
    served: Served,
) -> None:
    errors = [{"title": SSL, "message": SSL + "a", "error_data": SSL + "b", "code": 999999}] * 60
    request = pb.ClassifyRequest(payload=orjson.dumps({"errors": errors})).SerializeToString()
    assert len(request) > 700_000
    run, spent = timed(lambda: unary(served, "Classify", request))
    answer, worst = under_probe(served, run)
    assert isinstance(answer, bytes), answer
    assert len(pb.ClassifyResponse.FromString(answer).classifications) == 60
    report(served, "D1 740 KB of ssl texts (was 9.6 s, health 9.6 s)", worst, spent[0])


def test_d1_a_batch_of_ssl_texts_is_cut_at_the_text_budget(served: Served) -> None:
    items = [pb.ClassifyItem(id=str(i), text=SSL + str(i)) for i in range(1000)]
    request = pb.ClassifyStreamRequest(items=items).SerializeToString()
    run, spent = timed(lambda: streamed(served, "ClassifyStream", request))
    answers, worst = under_probe(served, run)
    assert isinstance(answers, list) and len(answers) == 1
    results = pb.ClassifyStreamResponse.FromString(answers[0]).results
    assert [r.id for r in results] == [str(i) for i in range(1000)]
    answered = [r for r in results if r.status.code == 0]
    refused = [r for r in results if r.status.code != 0]
    assert 200 < len(answered) < 300  # 1 MiB of text at ~4 KiB each
    assert results[len(answered)].status.code == 8  # RESOURCE_EXHAUSTED, and all after it
    assert all(r.status.code == 8 and "text budget" in r.status.message for r in refused)
    report(served, "D1 1000 ssl text items", worst, spent[0])


# ---- D2: a batch answer larger than the send limit ----------------------------------------

TEN_THOUSAND = orjson.dumps({"errors": [1] * 10_000})


def test_d2_a_batch_of_60_items_of_10000_codes_is_cut_at_the_errors_budget(
    served: Served,
) -> None:
    items = [pb.ClassifyItem(id=str(i), payload=TEN_THOUSAND) for i in range(60)]
    request = pb.ClassifyStreamRequest(items=items).SerializeToString()
    run, spent = timed(lambda: streamed(served, "ClassifyStream", request))
    answers, worst = under_probe(served, run)
    assert isinstance(answers, list) and len(answers) == 1
    assert len(answers[0]) < 8 * 1024 * 1024
    results = pb.ClassifyStreamResponse.FromString(answers[0]).results
    assert len(results) == 60
    answered = [r for r in results if r.status.code == 0]
    assert 1 <= len(answered) <= 2  # the errors budget is two such items; the bytes may be less
    assert all(len(r.classifications) == 10_000 for r in answered)
    assert results[: len(answered)] == answered  # answered first, refused after
    budgets = ("errors budget", "answer_bytes budget")
    for result in results[len(answered) :]:
        assert result.status.code == 8 and any(b in result.status.message for b in budgets)
    report(served, "D2 60 x 10,000 codes (was 436 MiB, 134 MB answer)", worst, spent[0])


def test_d2_an_answer_past_the_send_limit_is_refused_before_it_is_built(served: Served) -> None:
    status: dict[str, object] = {
        k: "9" * 256 for k in ("id", "status", "timestamp", "recipient_id")
    }
    status["errors"] = [131047] * 10_000
    request = pb.ClassifyRequest(payload=orjson.dumps({"statuses": [status]})).SerializeToString()
    run, spent = timed(lambda: unary(served, "Classify", request))
    refused, worst = under_probe(served, run)
    assert budget_of(refused) == "answer_bytes"
    report(served, "B12 10,000 errors with 256-character ids (13 MB answer)", worst, spent[0])


# ---- D3: a json Struct that amplifies in memory -------------------------------------------


def _empty_objects(count: int) -> bytes:
    struct = struct_pb2.Struct()
    struct.fields["statuses"].list_value.extend([struct_pb2.Struct()] * count)
    return pb.ClassifyRequest(json=struct).SerializeToString()


def test_d3_a_struct_of_2m_empty_objects_is_refused_before_it_is_parsed(served: Served) -> None:
    request = _empty_objects(2_000_000)
    run, spent = timed(lambda: unary(served, "Classify", request))
    refused, worst = under_probe(served, run)
    assert budget_of(refused) == "nested_bytes"
    report(served, "D3 Struct of 2M objects, 7.6 MiB (was 315 MiB, 7.3 s)", worst, spent[0])


def test_d3_a_2_mib_struct_of_500k_empty_objects_is_refused_by_its_value_count(
    served: Served,
) -> None:
    request = _empty_objects(500_000)
    assert len(request) < 2 * 1024 * 1024
    run, spent = timed(lambda: unary(served, "Classify", request))
    refused, worst = under_probe(served, run)
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than 100000 values" in (refused.details() or "")
    report(served, "D3 Struct of 500k objects, 2 MiB", worst, spent[0])


def test_d3_the_widest_struct_under_the_value_count_is_answered(served: Served) -> None:
    request = _empty_objects(99_000)
    run, spent = timed(lambda: unary(served, "Classify", request))
    answer, worst = under_probe(served, run)
    assert isinstance(answer, bytes), answer
    report(served, "D3 Struct of 99,000 objects", worst, spent[0])


# ---- D4: aggregate CPU per request ------------------------------------------------------


def test_d4_summarize_60_items_of_10000_codes_is_refused_at_the_errors_budget(
    served: Served,
) -> None:
    items = [pb.ClassifyItem(id=str(i), payload=TEN_THOUSAND) for i in range(60)]
    request = pb.SummarizeErrorsRequest(items=items).SerializeToString()
    run, spent = timed(lambda: summarized(served, request))
    refused, worst = under_probe(served, run)
    assert budget_of(refused) == "errors"
    report(served, "D4 SummarizeErrors 60 x 10,000 codes (was 4.9 s)", worst, spent[0])


def test_d4_a_7_mb_list_query_is_refused_at_once(served: Served) -> None:
    request = pb.ListErrorsRequest(query="e " * 3_500_000).SerializeToString()
    run, spent = timed(lambda: unary(served, "ListErrors", request))
    refused, worst = under_probe(served, run)
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "query: at most" in (refused.details() or "")
    assert spent[0] < 2
    report(served, "D4 ListErrors 7 MB query (was 8.8 s, health 8.8 s)", worst, spent[0])


# ---- the widest bodies that fit the limits ---------------------------------------------------


def test_b8_a_4_mib_body_of_1m_empty_statuses_is_refused_by_its_value_count(
    served: Served,
) -> None:
    payload = orjson.dumps({"statuses": [{}] * 1_000_000})
    assert len(payload) <= 4 * 1024 * 1024
    request = pb.ClassifyRequest(payload=payload).SerializeToString()
    run, spent = timed(lambda: unary(served, "Classify", request))
    refused, worst = under_probe(served, run)
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "JSON values" in (refused.details() or "")
    report(served, "B8 1M empty statuses in 4 MiB (was 3.5 s, health 3.5 s)", worst, spent[0])


def test_b8_the_widest_body_under_the_value_count_is_answered(served: Served) -> None:
    payload = orjson.dumps({"statuses": [{"status": "sent"}] * 120_000})  # 240,000 counted
    request = pb.ClassifyRequest(payload=payload).SerializeToString()
    run, spent = timed(lambda: unary(served, "Classify", request))
    answer, worst = under_probe(served, run)
    assert isinstance(answer, bytes), answer
    assert pb.ClassifyResponse.FromString(answer).catalog_version
    report(served, "B8 120,000 statuses", worst, spent[0])


def test_an_8_mib_batch_of_empty_items_is_refused_before_it_is_parsed(served: Served) -> None:
    request = b"\x0a\x00" * (4 * 1024 * 1024 - 16)  # 4M items: 288 MiB once parsed
    run, spent = timed(lambda: streamed(served, "ClassifyStream", request))
    refused, worst = under_probe(served, run)
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1000 items per request" in (refused.details() or "")
    report(served, "8 MiB of empty ClassifyItems", worst, spent[0])
