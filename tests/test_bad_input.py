"""Bad input, one case per test: the right status, a message that says what was wrong.

After every case the same server answers the next call (an autouse check).
Inside ClassifyStream a bad item gets its own status and the stream goes on;
only a batch over the documented maximum ends the stream.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import grpc
import orjson
import pytest
from google.protobuf import struct_pb2
from google.rpc import code_pb2

from whatsapp_errors.server.rpc.budget import MAX_MESSAGE_BYTES
from whatsapp_errors.server.rpc.service import MAX_BATCH_ITEMS
from whatsapp_errors.server.rpc.wire import length_delimited, varint
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

SERVICE = "/whatsapp.errors.v1.ErrorCatalogService"
WEBHOOK = orjson.dumps(
    {
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "value": {
                            "statuses": [
                                {"status": "failed", "errors": [{"code": 131047}]},
                            ]
                        }
                    }
                ],
            }
        ]
    }
)
DEEP = 100_000


@pytest.fixture(autouse=True)
def still_serving(stub: pb_grpc.ErrorCatalogServiceStub) -> Iterator[None]:
    """Whatever the case did, the server answers the next call."""
    yield
    reply = stub.Classify(pb.ClassifyRequest(code=131047), timeout=5)
    assert reply.classifications[0].error_info.code == 131047


def _refusal(stub: pb_grpc.ErrorCatalogServiceStub, request: pb.ClassifyRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request, timeout=10)
    return caught.value


def _invalid(stub: pb_grpc.ErrorCatalogServiceStub, payload: bytes) -> str:
    """Classify `payload`; it must be INVALID_ARGUMENT; returns the message."""
    error = _refusal(stub, pb.ClassifyRequest(payload=payload))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return error.details() or ""


def _codes(stub: pb_grpc.ErrorCatalogServiceStub, payload: bytes) -> list[int]:
    reply = stub.Classify(pb.ClassifyRequest(payload=payload), timeout=10)
    return [c.error_info.code for c in reply.classifications]


# ---- JSON that is not a webhook ------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b'{"errors": [131047,,]}', "payload: not valid JSON: unexpected character"),
        (WEBHOOK[:-9], "payload: not valid JSON"),
        (b'{"errors": [{"code": 131047, "title": "\xff\xfe"}]}', "not valid UTF-8"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[131047]", "payload[0]: expected a JSON object (webhook or error body), got a number"),
        (b'"131047"', "expected a JSON object (webhook or error body) or an array of them, got a"),
        (b"null", "(webhook or error body) or an array of them, got null"),
        (b"131047", "(webhook or error body) or an array of them, got a number"),
        (b"", "payload: the payload is empty"),
        (b"{}", "payload: not a recognised body"),
    ],
    ids=[
        "malformed",
        "truncated",
        "non-utf8-string",
        "non-utf8-bytes",
        "array",
        "string",
        "null",
        "number",
        "empty",
        "empty-object",
    ],
)
def test_payload_that_is_not_a_json_object(
    stub: pb_grpc.ErrorCatalogServiceStub, payload: bytes, says: str
) -> None:
    assert says in _invalid(stub, payload)


def test_nesting_100000_levels_deep_in_a_payload(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    arrays = b"[" * DEEP + b"]" * DEEP
    assert "not valid JSON: depth limit exceeded" in _invalid(stub, arrays)
    objects = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    assert "not valid JSON: depth limit exceeded" in _invalid(stub, objects)


def _nested_struct_bytes(depth: int) -> bytes:
    """A google.protobuf.Struct nested `depth` levels, encoded by hand (protobuf would refuse).

    Each level is `fields {key: "x" value {struct_value: <inner>}}`; built inside out
    from the sizes alone, so 100,000 levels take linear time.
    """
    prefixes = []
    size = 0  # the inner Struct's size
    for _ in range(depth):
        value = b"\x2a" + varint(size)  # Value.struct_value = 5
        value_size = len(value) + size
        entry = b"\x0a\x01x" + b"\x12" + varint(value_size)  # key = 1, value = 2
        entry_size = len(entry) + value_size
        struct = b"\x0a" + varint(entry_size)  # Struct.fields = 1 (a map entry)
        prefixes.append(struct + entry + value)
        size = len(struct) + entry_size
    return b"".join(reversed(prefixes))


def test_nesting_100000_levels_deep_in_a_struct(channel: grpc.Channel) -> None:
    request = length_delimited(b"\x22", _nested_struct_bytes(DEEP))  # ClassifyRequest.json = 4
    assert len(request) < MAX_MESSAGE_BYTES
    classify = channel.unary_unary(f"{SERVICE}/Classify")
    with pytest.raises(grpc.RpcError) as caught:
        classify(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in (caught.value.details() or "")
    assert "ClassifyRequest" in (caught.value.details() or "")


def test_a_10_mb_payload_is_resource_exhausted(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    payload = b'{"errors": [{"code": 131047, "message": "' + b"x" * 10_000_000 + b'"}]}'
    error = _refusal(stub, pb.ClassifyRequest(payload=payload))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (error.details() or "")
    assert f"vs. {MAX_MESSAGE_BYTES}" in (error.details() or "")


# ---- codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (b"1.5", "payload.errors[0].code: a code must be a whole number, got 1.5"),
        (b"true", "payload.errors[0].code: a code must be a number or a name, got True"),
        (b"false", "a code must be a number or a name, got False"),
        (b"18446744073709551616", "a code must fit in 64 bits"),
        (b"1" * 400, "not valid JSON: number is infinity when parsed as double"),
        (b"1e400", "not valid JSON: number is infinity"),
        (b'"131 047"', "payload.errors[0].code: a code must be digits or a name"),
        (b'"13l047"', "a code must be digits or a name (a letter, then"),
        (b"[131047]", "payload.errors[0].code: a code must be a number, got list"),
    ],
    ids=[
        "fraction",
        "true",
        "false",
        "past-uint64",
        "400-digits",
        "infinite",
        "spaces",
        "letter",
        "array",
    ],
)
def test_code_that_is_not_a_code(
    stub: pb_grpc.ErrorCatalogServiceStub, code: bytes, says: str
) -> None:
    assert says in _invalid(stub, b'{"errors": [{"code": ' + code + b"}]}")


@pytest.mark.parametrize("code", [b"131047.0", b'"131047"', b'" 131047 "', b"131047"], ids=str)
def test_code_forms_that_are_accepted(stub: pb_grpc.ErrorCatalogServiceStub, code: bytes) -> None:
    """Integral floats and digit strings (surrounding spaces trimmed) are codes as sent."""
    assert _codes(stub, b'{"errors": [{"code": ' + code + b"}]}") == [131047]


@pytest.mark.parametrize(
    ("code", "symbol"),
    [(b"-1", "-1"), (b'"-131047"', "-131047"), (b'"TOO_MANY_REQUESTS"', "TOO_MANY_REQUESTS")],
    ids=["negative", "negative-string", "name"],
)
def test_sentinel_and_symbolic_codes_are_kept_not_refused(
    stub: pb_grpc.ErrorCatalogServiceStub, code: bytes, symbol: str
) -> None:
    """A BSP's -1 or TOO_MANY_REQUESTS is its code as sent: kept, and no number is invented."""
    reply = stub.Classify(pb.ClassifyRequest(payload=b'{"errors": [{"code": ' + code + b"}]}"))
    [found] = reply.classifications
    assert found.context.symbolic_code == symbol
    assert not found.context.HasField("carried_code")


def test_duplicate_keys_take_the_last_value(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    """As in JavaScript's JSON.parse, the last duplicate wins (RFC 8259 leaves it open)."""
    assert _codes(stub, b'{"code": 1, "code": 131047}') == [131047]
    assert _codes(stub, b'{"errors": [{"code": 1}], "errors": [{"code": 131026}]}') == [131026]


def test_negative_bare_code(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    error = _refusal(stub, pb.ClassifyRequest(code=-5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "code: a code must not be negative, got -5" in (error.details() or "")


# ---- requests ---------------------------------------------------------------------


def test_empty_request(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    error = _refusal(stub, pb.ClassifyRequest())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "input: set one of code, payload, text, json or error"


def test_empty_json_object_and_blank_text(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    error = _refusal(stub, pb.ClassifyRequest(json=struct_pb2.Struct()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "json: the JSON object is empty" in (error.details() or "")
    error = _refusal(stub, pb.ClassifyRequest(text="   "))
    assert "text: the text is empty" in (error.details() or "")


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\xff\xff\xff", "Wire format was corrupt"),
        (b"\x1a\x02\xff\xfe", "String field had bad UTF-8"),  # text = 3, not UTF-8
        (b"\x12\x10{}", "Wire format was corrupt"),  # payload = 2, cut short
    ],
    ids=["garbage", "text-not-utf8", "truncated-message"],
)
def test_bytes_that_are_not_a_request_message(channel: grpc.Channel, raw: bytes, says: str) -> None:
    classify = channel.unary_unary(f"{SERVICE}/Classify")
    with pytest.raises(grpc.RpcError) as caught:
        classify(raw, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "the request is not a valid protobuf message" in details
    assert "whatsapp.errors.v1.ClassifyRequest" in details and says in details


def test_unknown_rpc(channel: grpc.Channel) -> None:
    method = channel.unary_unary(f"{SERVICE}/ClassifyEverything")
    with pytest.raises(grpc.RpcError) as caught:
        method(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.details() == "Method not found!"
    unknown_service = channel.unary_unary("/whatsapp.errors.v2.Nothing/Get")
    with pytest.raises(grpc.RpcError) as caught:
        unknown_service(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_1_ms_deadline(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    heavy = orjson.dumps({"errors": [131047] * 20_000})  # ~0.2 s of work
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(pb.ClassifyRequest(payload=heavy), timeout=0.001)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    items = [pb.ClassifyItem(id=str(i), payload=WEBHOOK) for i in range(MAX_BATCH_ITEMS)]
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=items)] * 5), timeout=0.001))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


# ---- streams ------------------------------------------------------------------------


def test_a_stream_with_no_requests_and_a_request_with_no_items(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    assert list(stub.ClassifyStream(iter([]), timeout=5)) == []
    [reply] = stub.ClassifyStream(iter([pb.ClassifyStreamRequest()]), timeout=5)
    assert list(reply.results) == [] and reply.catalog_version


def test_bad_items_get_their_own_status_and_the_stream_goes_on(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    bad = [
        pb.ClassifyItem(id="ok", code=131047),
        pb.ClassifyItem(id="malformed", payload=b'{"errors": ['),
        pb.ClassifyItem(id="array", payload=b"[1]"),
        pb.ClassifyItem(id="float", payload=b'{"code": 1.5}'),
        pb.ClassifyItem(id="deep", payload=b"[" * DEEP),
        pb.ClassifyItem(id="empty"),
        pb.ClassifyItem(id="negative", code=-1),
    ]
    good = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="after", payload=WEBHOOK)])
    first, second = stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=bad), good]))
    by_id = {r.id: r for r in first.results}
    assert list(by_id) == [item.id for item in bad]
    assert by_id["ok"].status.code == code_pb2.OK
    assert by_id["ok"].classifications[0].error_info.code == 131047
    says = {
        "malformed": "payload: not valid JSON",
        "array": "payload[0]: expected a JSON object (webhook or error body), got a number",
        "float": "payload.code: a code must be a whole number, got 1.5",
        "deep": "depth limit exceeded",
        "empty": "input: set one of code, payload, text, json or error",
        "negative": "must not be negative",
    }
    for item_id, message in says.items():
        status = by_id[item_id].status
        assert status.code == code_pb2.INVALID_ARGUMENT, item_id
        assert message in status.message, (item_id, status.message)
        assert not by_id[item_id].classifications
    assert [r.id for r in second.results] == ["after"]
    assert second.results[0].classifications[0].error_info.code == 131047


def test_a_batch_over_the_maximum_ends_the_stream_after_earlier_answers(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    fits = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="1", code=131047)])
    too_many = pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(i), code=131047) for i in range(MAX_BATCH_ITEMS + 1)]
    )
    responses = stub.ClassifyStream(iter([fits, too_many, fits]), timeout=10)
    assert [r.id for r in next(responses).results] == ["1"]
    with pytest.raises(grpc.RpcError) as caught:
        next(responses)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        f"items: at most {MAX_BATCH_ITEMS} items per request, got {MAX_BATCH_ITEMS + 1}"
    )


def test_a_client_that_cancels_mid_stream(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    outbox: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()

    def requests() -> Iterator[pb.ClassifyStreamRequest]:
        while (request := outbox.get()) is not None:
            yield request

    batch = pb.ClassifyStreamRequest(
        items=[pb.ClassifyItem(id=str(i), payload=WEBHOOK) for i in range(100)]
    )
    responses = stub.ClassifyStream(requests(), timeout=30)
    for _ in range(3):
        outbox.put(batch)
        assert len(next(responses).results) == 100
    outbox.put(batch)
    responses.cancel()
    with pytest.raises(grpc.RpcError) as caught:
        for _ in responses:
            pass
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    outbox.put(None)


def test_an_undecodable_message_inside_a_stream(channel: grpc.Channel) -> None:
    stream = channel.stream_stream(f"{SERVICE}/ClassifyStream")
    good = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="1", code=131047)])
    responses = stream(iter([good.SerializeToString(), b"\xff\xff"]), timeout=5)
    first = pb.ClassifyStreamResponse.FromString(next(responses))
    assert [r.id for r in first.results] == ["1"]
    with pytest.raises(grpc.RpcError) as caught:
        next(responses)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ClassifyStreamRequest" in (caught.value.details() or "")


def test_varint_helper_matches_protobuf() -> None:
    """The hand-made Struct above relies on the same framing protobuf uses."""
    nested = _nested_struct_bytes(3)
    struct = struct_pb2.Struct.FromString(nested)
    for _ in range(3):
        assert list(struct.fields) == ["x"]
        struct = struct.fields["x"].struct_value
    assert struct == struct_pb2.Struct()
    assert varint(300) == b"\xac\x02"
