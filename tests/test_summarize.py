"""SummarizeErrors on a real server: one report for a whole broadcast.

The counts are checked twice: by hand on a small broadcast, and against the
unary Classify answers of every corpus input (the report must be exactly
what a caller would get by counting those). Also: batches split any way give
the same report, an empty stream is an empty report, a batch over the
maximum is refused, and a cancelled upload stops the server's work.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import grpc
import orjson
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.conftest import ServerThread
from tests.support.stream_probe import StreamProbe
from tests.test_classify_stream import DELIVERED, FAILED, item
from tests.test_corpus import CASES, request_for
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.rpc.service import MAX_BATCH_ITEMS
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

PROBE = StreamProbe()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """This module's server carries the probe (overrides conftest's `server`)."""
    thread = ServerThread(ServerConfig(interceptors=[PROBE])).start()
    yield thread
    thread.stop()


@pytest.fixture(autouse=True)
def still_serving(stub: pb_grpc.ErrorCatalogServiceStub) -> Iterator[None]:
    """Whatever a test did to its upload, the server answers the next one."""
    yield
    report = stub.SummarizeErrors(
        iter([pb.SummarizeErrorsRequest(items=[pb.ClassifyItem(code=131047)])]), timeout=5
    )
    assert report.total_errors == 1


def counts(entries: object) -> dict[str, int]:
    """A repeated Count field as a dict."""
    return {entry.key: entry.count for entry in entries}  # type: ignore[attr-defined]


def summarize(
    stub: pb_grpc.ErrorCatalogServiceStub, batches: list[list[pb.ClassifyItem]]
) -> pb.SummarizeErrorsResponse:
    """One upload of `batches`."""
    requests = (pb.SummarizeErrorsRequest(items=batch) for batch in batches)
    report: pb.SummarizeErrorsResponse = stub.SummarizeErrors(requests, timeout=10)
    return report


BROADCAST = [
    pb.ClassifyItem(id="1", payload=FAILED),  # 131047, 132015, 132099 (template family)
    pb.ClassifyItem(id="2", payload=DELIVERED),  # nothing to classify
    pb.ClassifyItem(id="3", payload=b'{"entry": ['),  # unreadable
    pb.ClassifyItem(id="4", code=130429),  # rate limit: retry after
    pb.ClassifyItem(id="5", text="read ECONNRESET"),  # 114005: retry with backoff
    pb.ClassifyItem(id="6", code=131047),
]


def test_a_small_broadcast_counted_by_hand(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    report = summarize(stub, [BROADCAST])
    assert report.catalog_version
    assert (report.total_items, report.invalid_items, report.items_without_errors) == (6, 1, 1)
    assert (report.total_errors, report.retryable_errors) == (6, 2)
    assert counts(report.by_category) == {
        "CATEGORY_BUSINESS_ACCOUNT": 2,
        "CATEGORY_TEMPLATE": 2,
        "CATEGORY_RATE_LIMIT": 1,
        "CATEGORY_OTHER": 1,
    }
    assert counts(report.by_retry_strategy) == {
        "RETRY_STRATEGY_RESEND_AS_TEMPLATE": 2,
        "RETRY_STRATEGY_FIX_TEMPLATE": 2,
        "RETRY_STRATEGY_RETRY_AFTER": 1,
        "RETRY_STRATEGY_RETRY_WITH_BACKOFF": 1,
    }
    assert counts(report.by_code) == {
        "131047": 2,
        "132015": 1,
        "132099": 1,
        "130429": 1,
        "114005": 1,
    }
    assert counts(report.by_match_kind) == {
        "MATCH_KIND_EXACT_CODE": 4,
        "MATCH_KIND_CODE_FAMILY": 1,
        "MATCH_KIND_MESSAGE_TEXT": 1,
    }
    assert counts(report.by_actor) == {"ACTOR_BUSINESS": 4, "ACTOR_PLATFORM": 2}
    assert [c.count for c in report.by_code] == sorted(
        (c.count for c in report.by_code), reverse=True
    )


def test_the_report_equals_counting_the_unary_answers(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    """Every corpus input: the report is what counting Classify's answers gives."""
    items: list[pb.ClassifyItem] = []
    category: Counter[str] = Counter()
    strategy: Counter[str] = Counter()
    code: Counter[str] = Counter()
    match: Counter[str] = Counter()
    actor: Counter[str] = Counter()
    invalid = without = retryable = 0
    for case in CASES:
        request = request_for(case["input"])
        items.append(item(case["name"], request))
        try:
            reply = stub.Classify(request, timeout=5)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            invalid += 1
            continue
        without += not reply.classifications
        for found in reply.classifications:
            info = found.error_info
            category[pb.Category.Name(info.category)] += 1
            strategy[pb.RetryStrategy.Name(info.retry_strategy)] += 1
            code[str(info.code)] += 1
            match[pb.MatchKind.Name(found.match_kind)] += 1
            actor[pb.Actor.Name(info.actor)] += 1
            retryable += info.retryable
    report = summarize(stub, [items[i : i + 10] for i in range(0, len(items), 10)])
    assert report.total_items == len(CASES)
    assert report.invalid_items == invalid > 0
    assert report.items_without_errors == without > 0
    assert report.total_errors == sum(code.values())
    assert report.retryable_errors == retryable > 0
    assert counts(report.by_category) == category
    assert counts(report.by_retry_strategy) == strategy
    assert counts(report.by_code) == code
    assert counts(report.by_match_kind) == match
    assert counts(report.by_actor) == actor
    for field in (report.by_category, report.by_retry_strategy, report.by_match_kind):
        assert sum(c.count for c in field) == report.total_errors


def test_the_split_into_requests_does_not_matter(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    broadcast = BROADCAST * 50
    whole = summarize(stub, [broadcast])
    one_by_one = summarize(stub, [[i] for i in broadcast])
    uneven = summarize(stub, [broadcast[:7], [], broadcast[7:250], broadcast[250:]])
    assert whole == one_by_one == uneven
    assert whole.total_items == 300
    assert whole.total_errors == 300


def test_a_large_broadcast(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    """20 requests of the maximum size: 20,000 webhooks of three errors each."""
    batch = [pb.ClassifyItem(id=str(i), payload=FAILED) for i in range(MAX_BATCH_ITEMS)]
    report = summarize(stub, [batch] * 20)
    assert (report.total_items, report.total_errors) == (20_000, 60_000)
    assert counts(report.by_code) == {"131047": 20_000, "132015": 20_000, "132099": 20_000}


def test_an_empty_upload_is_an_empty_report(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    report = summarize(stub, [])
    assert report == pb.SummarizeErrorsResponse(catalog_version=report.catalog_version)
    assert report.catalog_version
    assert summarize(stub, [[]]) == report


def test_a_request_over_the_maximum_is_refused(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    too_many = [pb.ClassifyItem(code=131047)] * (MAX_BATCH_ITEMS + 1)
    with pytest.raises(grpc.RpcError) as caught:
        summarize(stub, [[pb.ClassifyItem(code=1)], too_many])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "BATCH_TOO_LARGE"


def test_a_cancelled_upload_stops_the_servers_work(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    batch = pb.SummarizeErrorsRequest(items=[pb.ClassifyItem(payload=FAILED)] * 200)

    def endless() -> Iterator[pb.SummarizeErrorsRequest]:
        while True:
            yield batch

    PROBE.reset()
    future = stub.SummarizeErrors.future(endless(), timeout=30)
    deadline = time.monotonic() + 5
    while PROBE.requests_read < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert PROBE.requests_read >= 5
    future.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    assert PROBE.ended.wait(5), "the server kept summarising for a client that cancelled"
    read = PROBE.requests_read
    time.sleep(0.3)
    assert PROBE.requests_read == read
    # grpc.aio sometimes ends a cancelled upload's request stream as if the client had
    # finished (context.cancelled() is still False then, checked), so the handler may build
    # its one report; it never reaches the client (FutureCancelledError above).
    assert PROBE.responses_sent <= 1


def test_bad_items_are_counted_never_dropped(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    bad = [
        pb.ClassifyItem(),
        pb.ClassifyItem(payload=b"[1, 2]"),
        pb.ClassifyItem(text=""),
        pb.ClassifyItem(code=-1),
        pb.ClassifyItem(payload=orjson.dumps({"error": {"code": True}})),
    ]
    report = summarize(stub, [bad, [pb.ClassifyItem(code=131047)]])
    assert (report.total_items, report.invalid_items, report.total_errors) == (6, 5, 1)
