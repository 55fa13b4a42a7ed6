"""ClassifyStream on a real server: same answers as Classify, same ids, same order.

Every corpus input goes through the stream in batches and must get exactly
the classifications the unary call gives; bad items get their own
INVALID_ARGUMENT result and the stream goes on; the documented maximum of
1000 items per request is honoured and enforced; an empty stream is fine;
and a client that cancels stops the server's work (seen from inside the
server by tests/stream_probe.py) without disturbing the next call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import orjson
import pytest
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tests.conftest import ServerThread
from tests.support.stream_probe import StreamProbe
from tests.test_corpus import CASES, request_for
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.rpc.service import MAX_BATCH_ITEMS
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

PROBE = StreamProbe()
FAILED = orjson.dumps(
    {
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "value": {
                            "metadata": {"phone_number_id": "PN"},
                            "statuses": [
                                {
                                    "id": "wamid.A",
                                    "status": "failed",
                                    "recipient_id": "6281",
                                    "errors": [{"code": 131047}, {"code": "132015"}],
                                },
                                {"id": "wamid.B", "status": "delivered"},
                                {"id": "wamid.C", "status": "failed", "errors": [{"code": 132099}]},
                            ],
                        }
                    }
                ],
            }
        ]
    }
)
DELIVERED = orjson.dumps(
    {"entry": [{"changes": [{"value": {"statuses": [{"id": "w", "status": "delivered"}]}}]}]}
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """This module's server carries the probe (overrides conftest's `server`)."""
    thread = ServerThread(ServerConfig(interceptors=[PROBE])).start()
    yield thread
    thread.stop()


@pytest.fixture(autouse=True)
def still_serving(stub: pb_grpc.ErrorCatalogServiceStub) -> Iterator[None]:
    """Whatever a test did to its stream, the server answers the next call."""
    yield
    [reply] = stub.ClassifyStream(
        iter([pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="next", code=131047)])]),
        timeout=5,
    )
    assert reply.results[0].classifications[0].error_info.code == 131047


def item(item_id: str, request: pb.ClassifyRequest) -> pb.ClassifyItem:
    """The ClassifyItem carrying the same input as a ClassifyRequest."""
    kind = request.WhichOneof("input")
    result = pb.ClassifyItem(id=item_id)
    if kind is None:
        return result
    value = getattr(request, kind)
    if isinstance(value, Message):
        getattr(result, kind).CopyFrom(value)
    else:
        setattr(result, kind, value)
    return result


def status_of(result: pb.ClassifyResult) -> status_pb2.Status:
    """A result's google.rpc.Status (an OK one is always present)."""
    assert result.HasField("status")
    return result.status


def test_every_corpus_input_gets_the_unary_answer_same_ids_same_order(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    requests = [(case["name"], request_for(case["input"])) for case in CASES]
    expected: dict[str, pb.ClassifyResponse | grpc.StatusCode] = {}
    for name, request in requests:
        try:
            expected[name] = stub.Classify(request, timeout=5)
        except grpc.RpcError as error:
            expected[name] = error.code()
    batches = [requests[i : i + 7] for i in range(0, len(requests), 7)]  # uneven last batch
    replies = list(
        stub.ClassifyStream(
            iter(
                pb.ClassifyStreamRequest(items=[item(name, req) for name, req in batch])
                for batch in batches
            ),
            timeout=10,
        )
    )
    assert len(replies) == len(batches)
    for batch, reply in zip(batches, replies, strict=True):
        assert reply.catalog_version
        assert [r.id for r in reply.results] == [name for name, _ in batch]
        for result in reply.results:
            want = expected[result.id]
            if isinstance(want, pb.ClassifyResponse):
                assert status_of(result).code == code_pb2.OK, result.id
                assert list(result.classifications) == list(want.classifications), result.id
            else:
                assert want == grpc.StatusCode.INVALID_ARGUMENT, result.id
                assert status_of(result).code == code_pb2.INVALID_ARGUMENT, result.id
                assert not result.classifications


def test_bad_items_get_their_own_status_and_nothing_is_dropped(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    items = [
        pb.ClassifyItem(id="ok-1", payload=FAILED),
        pb.ClassifyItem(id="truncated", payload=FAILED[:40]),
        pb.ClassifyItem(id="no-input"),
        pb.ClassifyItem(id="delivered", payload=DELIVERED),
        pb.ClassifyItem(id="bad-code", payload=b'{"error": {"code": "13x"}}'),
        pb.ClassifyItem(id="blank", text="   "),
        pb.ClassifyItem(id="negative", code=-5),
        pb.ClassifyItem(id="ok-2", text="read ECONNRESET"),
        pb.ClassifyItem(id="", code=999999),  # ids are echoed, even empty and repeated
        pb.ClassifyItem(id="ok-1", code=131047),
    ]
    [reply] = stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=items)]), timeout=5)
    assert [r.id for r in reply.results] == [i.id for i in items]
    codes = {r.id: status_of(r).code for r in reply.results}
    bad = {"truncated", "no-input", "bad-code", "blank", "negative"}
    for result in reply.results:
        status = status_of(result)
        if result.id in bad:
            assert status.code == code_pb2.INVALID_ARGUMENT, result.id
            assert status.message, result.id
            assert not result.classifications
            request = error_details_pb2.BadRequest()
            assert any(detail.Unpack(request) for detail in status.details)
            assert request.field_violations[0].field
        else:
            assert codes[result.id] == code_pb2.OK
    results = list(reply.results)
    assert [c.error_info.code for c in results[0].classifications] == [131047, 132015, 132099]
    assert [c.context.message_id for c in results[0].classifications] == [
        "wamid.A",
        "wamid.A",
        "wamid.C",
    ]
    assert results[0].classifications[2].match_kind == pb.MATCH_KIND_CODE_FAMILY
    assert results[0].classifications[2].error_info.category == pb.CATEGORY_TEMPLATE
    assert list(results[3].classifications) == []  # delivered: nothing to classify
    bad_code = status_of(results[4])
    assert "payload.error.code" in bad_code.message
    assert results[7].classifications[0].error_info.code == 114005
    assert results[8].classifications[0].error_info.category == pb.CATEGORY_UNKNOWN
    assert results[8].classifications[0].error_info.code == 999999


def test_a_request_of_exactly_the_maximum_is_answered_in_full(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    assert MAX_BATCH_ITEMS == 1000  # the documented maximum
    items = [
        pb.ClassifyItem(id=str(i), payload=FAILED) if i % 2 else pb.ClassifyItem(id=str(i), code=i)
        for i in range(MAX_BATCH_ITEMS)
    ]
    [reply] = stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=items)]), timeout=10)
    assert [r.id for r in reply.results] == [str(i) for i in range(MAX_BATCH_ITEMS)]
    assert all(status_of(r).code == code_pb2.OK for r in reply.results)
    assert all(len(r.classifications) == (3 if i % 2 else 1) for i, r in enumerate(reply.results))


def test_a_request_over_the_maximum_ends_the_stream_with_invalid_argument(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    fits = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="first", code=131047)])
    too_many = pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(i), code=131047) for i in range(MAX_BATCH_ITEMS + 1)]
    )
    responses = stub.ClassifyStream(iter([fits, too_many, fits]), timeout=10)
    assert next(responses).results[0].id == "first"  # answers before the bad batch arrive
    with pytest.raises(grpc.RpcError) as caught:
        next(responses)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info, violations = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and info.reason == "BATCH_TOO_LARGE"
    assert status.details[1].Unpack(violations)
    assert violations.field_violations[0].field == "items"
    assert "at most 1000 items per request, got 1001" in violations.field_violations[0].description


def test_an_empty_stream_and_an_empty_request(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    call = stub.ClassifyStream(iter([]), timeout=5)
    assert list(call) == []
    assert call.code() == grpc.StatusCode.OK
    [reply] = stub.ClassifyStream(iter([pb.ClassifyStreamRequest()]), timeout=5)
    assert list(reply.results) == []
    assert reply.catalog_version


def test_many_requests_on_one_stream_are_answered_one_for_one_in_order(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    batches = [
        pb.ClassifyStreamRequest(
            items=[pb.ClassifyItem(id=f"{b}.{i}", code=131047 + i) for i in range(b % 5)]
        )
        for b in range(50)
    ]
    replies = list(stub.ClassifyStream(iter(batches), timeout=10))
    assert [[r.id for r in reply.results] for reply in replies] == [
        [i.id for i in batch.items] for batch in batches
    ]


def test_a_client_that_cancels_stops_the_servers_work(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    """An endless request stream, cancelled after three answers: the handler ends."""
    batch = pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(i), payload=FAILED) for i in range(200)]
    )
    pulled = 0

    def endless() -> Iterator[pb.ClassifyStreamRequest]:
        nonlocal pulled
        while True:
            pulled += 1
            yield batch

    PROBE.reset()
    responses = stub.ClassifyStream(endless(), timeout=30)
    for _ in range(3):
        assert len(next(responses).results) == 200
    responses.cancel()
    with pytest.raises(grpc.RpcError) as caught:
        for _ in responses:
            pass
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert PROBE.ended.wait(5), "the server kept working for a client that cancelled"
    read, sent, seen = PROBE.requests_read, PROBE.responses_sent, pulled
    time.sleep(0.3)
    assert (PROBE.requests_read, PROBE.responses_sent) == (read, sent)  # no work after
    assert pulled == seen  # and the client stopped producing requests
    assert sent >= 3


def test_a_client_that_half_closes_gets_every_answer(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    """Closing the request side is not cancelling: all queued batches are answered."""
    PROBE.reset()
    batches = [
        pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id=str(b), payload=FAILED)])
        for b in range(20)
    ]
    replies = list(stub.ClassifyStream(iter(batches), timeout=10))
    assert [reply.results[0].id for reply in replies] == [str(b) for b in range(20)]
    assert PROBE.ended.wait(5)
    assert (PROBE.requests_read, PROBE.responses_sent, PROBE.cancelled) == (20, 20, 0)
