"""Request budgets, the `json` input and cancellation, call by call on a real server.

Each request (a unary call, a ClassifyStream batch, a SummarizeErrors
message) has a budget of errors decided, text matched and answer bytes
(server/rpc/budget.py); a batch's items past it get RESOURCE_EXHAUSTED
naming it while the stream goes on. The `json` input reads as the same body
sent as `payload` (D14). A cancelled batch stops within an item (D4).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.conftest import ServerThread
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.rpc.budget import MAX_REQUEST_ERRORS
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

TEN_THOUSAND = orjson.dumps({"errors": [131047] * 10_000})


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """With real metrics, so the test can count the items the server classified."""
    thread = ServerThread(ServerConfig(metrics_port=0)).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def big_stub(server: ServerThread) -> Iterator[pb_grpc.ErrorCatalogServiceStub]:
    """Receives up to the server's 8 MiB send limit (a client's default is 4 MiB)."""
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    with grpc.insecure_channel(server.target, options=options) as channel:
        yield pb_grpc.ErrorCatalogServiceStub(channel)


def _struct(document: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(document), struct_pb2.Struct())


def _codes(response: pb.ClassifyResponse) -> list[int]:
    return [c.error_info.code for c in response.classifications]


# ---- D14: `json` is the same body as `payload` ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [131047, 132001]},
        {"statuses": [{"id": "w", "status": "failed", "errors": [131047, 132001]}]},
        {"error": {"code": 131047.0}},
    ],
)
def test_d14_json_reads_bare_codes_as_the_same_payload_does(
    stub: pb_grpc.ErrorCatalogServiceStub, body: Mapping[str, Any]
) -> None:
    as_json = stub.Classify(pb.ClassifyRequest(json=_struct(body)), timeout=10)
    as_payload = stub.Classify(pb.ClassifyRequest(payload=orjson.dumps(body)), timeout=10)
    assert _codes(as_json) == _codes(as_payload)
    assert _codes(as_json)[0] == 131047


def test_json_numbers_that_are_ids_read_as_the_payload_reads_them(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    body = {"statuses": [{"id": 12345, "status": "failed", "recipient_id": 6281, "errors": [1]}]}
    as_json = stub.Classify(pb.ClassifyRequest(json=_struct(body)), timeout=10)
    context = as_json.classifications[0].context
    assert (context.message_id, context.recipient_id) == ("12345", "6281")


def test_json_with_nan_or_nothing_in_it_is_refused(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    nan = struct_pb2.Struct()
    nan.fields["code"].number_value = float("nan")
    for struct, says in ((nan, "not representable as JSON"), (struct_pb2.Struct(), "empty")):
        with pytest.raises(grpc.RpcError) as refused:
            stub.Classify(pb.ClassifyRequest(json=struct), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert says in (refused.value.details() or "")


# ---- D2: the budget of a batch, not of an item ---------------------------------------------


def _budget(status: object) -> tuple[str, str]:
    info = error_details_pb2.ErrorInfo()
    details = getattr(status, "details")  # noqa: B009 (google.rpc.Status)
    next(d for d in details if d.Is(info.DESCRIPTOR)).Unpack(info)
    return info.reason, info.metadata["budget"]


def test_d2_items_past_the_batch_budget_get_their_own_resource_exhausted(
    big_stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    items = [pb.ClassifyItem(id=f"big-{i}", payload=TEN_THOUSAND) for i in range(6)]
    items += [pb.ClassifyItem(id="small", code=131047)]
    [answer] = big_stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=items)]), timeout=60)
    assert answer.ByteSize() < 8 * 1024 * 1024
    assert [r.id for r in answer.results] == [item.id for item in items]
    answered = [r for r in answer.results if r.status.code == 0]
    assert answered and all(len(r.classifications) == 10_000 for r in answered)
    assert sum(len(r.classifications) for r in answered) <= MAX_REQUEST_ERRORS
    for result in answer.results[len(answered) :]:  # every later item, the small one too
        assert result.status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert _budget(result.status)[0] == "REQUEST_BUDGET_EXCEEDED"
        assert _budget(result.status)[1] in ("errors", "answer_bytes")
        assert "send fewer or smaller items per request" in result.status.message


def test_d2_the_stream_goes_on_and_refused_items_fit_in_the_next_batch(
    big_stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    big = pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(i), payload=TEN_THOUSAND) for i in range(4)]
    )
    second = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="3", payload=TEN_THOUSAND)])
    first, resent = big_stub.ClassifyStream(iter([big, second]), timeout=60)
    assert first.results[3].status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert resent.results[0].status.code == 0
    assert len(resent.results[0].classifications) == 10_000


def test_a_unary_answer_past_the_send_limit_is_refused_naming_the_budget(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    ids = ("id", "status", "timestamp", "recipient_id")
    status: dict[str, object] = {key: "9" * 256 for key in ids}
    status["errors"] = [131047] * 10_000
    payload = orjson.dumps({"statuses": [status]})
    with pytest.raises(grpc.RpcError) as refused:
        stub.Classify(pb.ClassifyRequest(payload=payload), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (refused.value.details() or "")
    detail = rpc_status.from_call(refused.value)
    assert detail is not None and _budget(detail) == ("REQUEST_BUDGET_EXCEEDED", "answer_bytes")


def test_d4_a_summarize_message_past_its_budget_ends_the_call(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    items = [pb.ClassifyItem(id=str(i), payload=TEN_THOUSAND) for i in range(3)]
    with pytest.raises(grpc.RpcError) as refused:
        stub.SummarizeErrors(iter([pb.SummarizeErrorsRequest(items=items)]), timeout=60)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "errors budget" in (refused.value.details() or "")
    ok = stub.SummarizeErrors(iter([pb.SummarizeErrorsRequest(items=items[:2])]), timeout=60)
    assert ok.total_errors == 20_000  # at the budget, not past it


# ---- D4: ListErrors queries --------------------------------------------------------------


def test_d4_list_queries_are_capped_and_their_words_counted_once(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    for query in ("e " * 3_500_000, " ".join(f"w{i}" for i in range(17))):
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListErrors(pb.ListErrorsRequest(query=query), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "query: at most" in (refused.value.details() or "")
    once = stub.ListErrors(pb.ListErrorsRequest(query="message"), timeout=10)
    many = stub.ListErrors(pb.ListErrorsRequest(query="message " * 60), timeout=10)
    assert once.total_size == many.total_size > 0


# ---- D4: a cancel stops the batch ---------------------------------------------------------


def test_d4_a_cancelled_batch_stops_within_one_item(server: ServerThread) -> None:
    """40 items of ~40 ms each; cancelled after the first few: the server stops at once."""
    heavy = orjson.dumps({"errors": [{"code": 900_000 + i} for i in range(450)]})
    batch = pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(i), payload=heavy) for i in range(40)]
    )
    items = server.running.metrics.items

    def classified() -> int:
        return items["with_errors"] + items["without_errors"] + items["invalid"]

    before = classified()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        responses = stub.ClassifyStream(iter([batch]), timeout=60)
        ended: list[grpc.StatusCode] = []

        def read_all() -> None:
            try:
                list(responses)
            except grpc.RpcError as exc:
                ended.append(exc.code())

        worker = threading.Thread(target=read_all, daemon=True)
        worker.start()
        deadline = time.monotonic() + 20
        while classified() - before < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        responses.cancel()
        at_cancel = classified() - before
        worker.join(timeout=10)
    with grpc.insecure_channel(server.target) as other:
        began = time.perf_counter()
        pb_grpc.ErrorCatalogServiceStub(other).GetError(pb.GetErrorRequest(code=131047), timeout=5)
        other_waited = time.perf_counter() - began
    time.sleep(0.5)
    after = classified() - before
    assert ended == [grpc.StatusCode.CANCELLED]
    assert 3 <= at_cancel < 40
    assert after <= at_cancel + 2, f"{after - at_cancel} items classified after the cancel"
    assert other_waited < 0.5
