"""Pre-serialised Classify/ClassifyStream responses equal the message-built ones, byte for byte.

server/rpc/wire.py composes responses from cached ErrorInfo bytes; clients must
not be able to tell. Each test builds the same answer the plain protobuf way
(as the service did before) and compares the bytes, in process and through a
real server.
"""

from __future__ import annotations

import json

import grpc
import pytest

from tests.conftest import ServerThread
from tests.support.oracle import to_message
from tests.support.webhooks import mixed_payloads
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.server.classify.found import InputError
from whatsapp_errors.server.rich_status import OK, invalid_argument_status
from whatsapp_errors.server.rpc.registration import serialize
from whatsapp_errors.server.rpc.wire import WireEncoder, varint
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_catalog(EMBEDDED_CATALOG))


def _items() -> list[pb.ClassifyItem]:
    """Every input kind, every path through the classifier, and bad items."""
    items = [pb.ClassifyItem(id=f"p{i}", payload=p) for i, p in enumerate(mixed_payloads(300))]
    items += [
        pb.ClassifyItem(id="code", code=131047),
        pb.ClassifyItem(id="range", code=115003),
        pb.ClassifyItem(id="family", code=131999),
        pb.ClassifyItem(id="unknown", code=999_001),
        pb.ClassifyItem(id="", code=0),
        pb.ClassifyItem(id="text", text="cURL error 28: Operation timed out"),
        pb.ClassifyItem(id="nothing", text="zzz qqq"),
        pb.ClassifyItem(id="error", error=pb.StructuredError(code=100, subcode=131047)),
        pb.ClassifyItem(id="http", error=pb.StructuredError(http_status=429)),
        pb.ClassifyItem(id="ünïcode-id", payload='{"error": "boom ✓"}'.encode()),
        pb.ClassifyItem(
            id="transient",
            payload=json.dumps({"error": {"code": 999_002, "is_transient": True}}).encode(),
        ),
        pb.ClassifyItem(id="delivered", payload=b'{"statuses":[{"status":"delivered"}]}'),
        pb.ClassifyItem(id="bad-json", payload=b"{nope"),
        pb.ClassifyItem(id="bad-code", payload=b'{"error": {"code": -5}}'),
        pb.ClassifyItem(id="empty"),
    ]
    item = pb.ClassifyItem(id="struct")
    item.json.update({"error": {"code": 131026, "message": "Message undeliverable"}})
    items.append(item)
    return items


def _message_result(classifier: Classifier, item: pb.ClassifyItem) -> pb.ClassifyResult:
    try:
        decisions = classifier.classify_input(item, item.WhichOneof("input"))
    except InputError as exc:
        return pb.ClassifyResult(
            id=item.id, status=invalid_argument_status([(exc.field, exc.description)])
        )
    return pb.ClassifyResult(
        id=item.id, classifications=[to_message(d) for d in decisions], status=OK
    )


def _wire_result(classifier: Classifier, encoder: WireEncoder, item: pb.ClassifyItem) -> bytes:
    try:
        decisions = classifier.classify_input(item, item.WhichOneof("input"))
    except InputError as exc:
        return encoder.message_result(
            pb.ClassifyResult(
                id=item.id, status=invalid_argument_status([(exc.field, exc.description)])
            )
        )
    return encoder.result(item.id, decisions)


def test_varint_matches_protobuf() -> None:
    for value in (0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**63 - 1):
        encoded = pb.GetErrorRequest(code=value).SerializeToString()
        assert encoded == (b"\x08" + varint(value) if value else b"")


def test_stream_response_bytes_equal_message_built(classifier: Classifier) -> None:
    encoder = WireEncoder(classifier.version)
    items = _items()
    expected = pb.ClassifyStreamResponse(
        results=[_message_result(classifier, item) for item in items],
        catalog_version=classifier.version,
    ).SerializeToString()
    for _ in range(2):  # the second pass answers from the caches
        wire = encoder.stream_response([_wire_result(classifier, encoder, item) for item in items])
        assert wire == expected


def test_classify_response_bytes_equal_message_built(classifier: Classifier) -> None:
    encoder = WireEncoder(classifier.version)
    for code in [*classifier.catalog.listings, 131999, 999_001, 0]:
        decisions: list[Decision] = classifier.classify_code(code)
        expected = pb.ClassifyResponse(
            classifications=[to_message(d) for d in decisions],
            catalog_version=classifier.version,
        ).SerializeToString()
        if code in classifier.catalog.listings:
            assert classifier.classify_code(code) is decisions  # decided once per listed code
            assert encoder.code_response(code, decisions) == expected
            assert encoder.code_response(code, decisions) == expected  # cached
        assert encoder.classify_response(decisions) == expected
    with pytest.raises(InputError):
        classifier.classify_code(-1)


def test_serialize_passes_bytes_and_serialises_messages() -> None:
    message = pb.ClassifyResponse(catalog_version="v")
    assert serialize(b"raw") == b"raw"
    assert serialize(message) == message.SerializeToString()


def test_real_server_answers_equal_message_built(classifier: Classifier) -> None:
    server = ServerThread().start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.ErrorCatalogServiceStub(channel)
            items = _items()
            batches = [items[:150], items[150:]]
            answers = list(
                stub.ClassifyStream(
                    iter(pb.ClassifyStreamRequest(items=b) for b in batches), timeout=30
                )
            )
            for batch, answer in zip(batches, answers, strict=True):
                expected = pb.ClassifyStreamResponse(
                    results=[_message_result(classifier, item) for item in batch],
                    catalog_version=classifier.version,
                )
                assert answer == expected
            response = stub.Classify(pb.ClassifyRequest(code=131047), timeout=5)
            assert response.classifications[0].error_info.code == 131047
            assert response.classifications[0].context.original_code == 131047
            assert response.catalog_version == classifier.version
            with pytest.raises(grpc.RpcError) as caught:
                stub.Classify(pb.ClassifyRequest(code=-1), timeout=5)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop()
