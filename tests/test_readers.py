"""What the readers hand decide(): codes read from text, transport waits, presence of code 0.

Reader functions are exercised directly (they are pure), and everything a
caller can see goes through a real server: the `carried_code` presence on the
wire and in the CLI's JSON lines, a request's `transport`, stream items with
transport, and the INVALID_ARGUMENT that names the shapes read. The
adversarial texts check that text reading stays linear on 4 MiB.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import grpc
import orjson
import pytest
from google.rpc import code_pb2

from whatsapp_errors.client.cli.tables import ResultLines
from whatsapp_errors.server.catalog import load_catalog
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.generic_reader import errors_in_text, extract_errors
from whatsapp_errors.server.classify.loose_objects import parse_loose_object
from whatsapp_errors.server.classify.text_codes import codes_in_text
from whatsapp_errors.server.classify.transport import (
    lower_headers,
    regain_access,
    retry_after,
    wait_seconds,
)
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

CLASSIFIER = Classifier(load_catalog())
USAGE = orjson.dumps(
    {"1029": [{"type": "whatsapp", "call_count": 100, "estimated_time_to_regain_access": 7}]}
).decode()


# ---- codes written in text ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "subcode"),
    [
        ("(#131047) Re-engagement message", 131047, None),
        ("Error code 131047.", 131047, None),
        ("WhatsApp error code: 470", 470, None),
        ("{'code': 131047, 'error_subcode': 2494010}", 131047, 2494010),
        ("{ error: { code: 131026, type: 'OAuthException' } }", 131026, None),
        ('log {"error": {"code": "131050", "error_subcode": 2494055}} end', 131050, 2494055),
        ("graph failed error_subcode=2494010 code=100", 100, 2494010),
        ("{:code => 131047}", 131047, None),
        ("ErrorCode=63016", 63016, None),
        ("Request failed with status code 502", None, None),
        ("Your verification code 123456", None, None),
        ("HTTP status_code: 429", None, None),
        ("cURL error 28: Operation timed out", None, None),
        ("retry in 1.5 seconds, code 2.5", None, None),
    ],
)
def test_codes_in_text(text: str, code: int | None, subcode: int | None) -> None:
    assert codes_in_text(text) == (code, subcode)


def test_a_marker_beats_a_weaker_form_in_an_earlier_text() -> None:
    assert codes_in_text("code 4", "", "(#131056) pair rate limit") == (131056, None)


def test_a_carried_code_is_never_replaced_by_the_text() -> None:
    [found] = extract_errors({"errors": [{"code": 130429, "message": "(#131047) other"}]})
    assert found.code == 130429 and not found.code_from_text


def test_loose_objects_python_node_and_ruby() -> None:
    python = "x {'a': True, 'b': None, 'c': [1, 2.5, 'it\\'s'], 'd': {'e': \"q\"},}"
    assert parse_loose_object(python, 2) == {
        "a": True,
        "b": None,
        "c": [1, 2.5, "it's"],
        "d": {"e": "q"},
    }
    node = "{ data: { error: [Object] }, list: [Array], n: -3 }"
    assert parse_loose_object(node, 0) == {
        "data": {"error": "[Object]"},
        "list": "[Array]",
        "n": -3,
    }
    assert parse_loose_object('{"code"=>1, :sub => "x"}', 0) == {"code": 1, "sub": "x"}
    assert parse_loose_object("{'when': datetime(2024, 1, 1)}", 0) is None
    assert parse_loose_object("{'open': 'never closed", 0) is None


def test_a_fragment_gives_one_error_per_error_and_they_count_as_text() -> None:
    text = 'got {"errors": [{"code": 131026}, {"code": 131047}]}'
    found = errors_in_text(text)
    assert [f.code for f in found] == [131026, 131047]
    assert all(f.code_from_text and f.context.code_from_text for f in found)
    assert errors_in_text("no fragment here") == []


ADVERSARIAL = {
    "braces": "{" * 4_194_304,
    "unclosed-string": "{'a': '" + "x" * 4_194_300,
    "escapes": "{'a': '" + "\\x" * 2_097_148,
    "markers": "(#" * 2_097_152,
    "keys": "code: " * 699_050,
    "prose": "code " * 838_860,
    "nested": "{'a':" * 838_860,
    "deep-json": '{"a":' * 838_860,
    "digits": "{'code': " + "1" * 4_194_290,
    "bare-keys": "{a: 1, " * 599_186,
    "status": "status code 502 " * 262_144,
}


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_text_reading_is_linear_on_4_mib_of_adversarial_text(text: str) -> None:
    """Each form costs tens of milliseconds here; a quadratic pattern would take minutes."""
    start = time.perf_counter()
    codes_in_text(text, text, text)
    errors_in_text(text)
    CLASSIFIER.classify_text(text)
    [found] = extract_errors({"errors": [{"message": text}]})
    assert time.perf_counter() - start < 5.0
    assert found.message == text


# ---- transport -------------------------------------------------------------------------


def test_retry_after_seconds_and_http_dates() -> None:
    assert retry_after("120") == 120.0
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after(later, now.timestamp()) == 90.0
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert retry_after(earlier, now.timestamp()) == 0.0
    assert retry_after("soon") is None
    assert retry_after("") is None


def test_meta_usage_headers_give_minutes_in_seconds() -> None:
    assert regain_access(USAGE) == 420.0
    assert regain_access('{"call_count": 28, "estimated_time_to_regain_access": 2}') == 120.0
    assert regain_access('{"call_count": 28, "total_time": 25}') is None
    assert regain_access("not json") is None
    headers = lower_headers({"Retry-After": "30", "X-Business-Use-Case-Usage": USAGE})
    assert wait_seconds(headers) == 420.0  # the longest wait wins


def test_headers_as_make_pairs_and_node_arrays() -> None:
    pairs = [{"name": "Retry-After", "value": "15"}, {"name": "x"}]
    assert lower_headers(pairs) == {"retry-after": "15"}
    assert lower_headers({"retry-after": ["20", "21"]}) == {"retry-after": "20"}


def test_a_request_transport_reaches_every_error_of_the_input() -> None:
    body = orjson.dumps({"errors": [{"code": 130429}, {"code": 131026, "status_code": 400}]})
    transport = pb.Transport(http_status=429, headers={"Retry-After": "45"})
    decisions = CLASSIFIER.classify_payload(body, transport=transport)
    assert [d.raw.http_status for d in decisions] == [429, 400]  # an error's own status wins
    assert [d.raw.retry_after_seconds for d in decisions] == [45.0, 45.0]
    app_usage = '{"call_count": 100, "estimated_time_to_regain_access": 3}'
    [code] = CLASSIFIER.classify_code(130429, pb.Transport(headers={"X-App-Usage": app_usage}))
    assert code.raw.retry_after_seconds == 180.0
    assert CLASSIFIER.classify_code(130429)[0].raw.retry_after_seconds is None  # cache untouched


def test_a_wrapper_carries_its_status_and_wait_to_the_body_inside() -> None:
    wrapped = {"statusCode": 429, "headers": {"retry-after": "9"}, "body": {"error": {"code": 4}}}
    [found] = extract_errors(wrapped)
    assert (found.http_status, found.retry_after_seconds) == (429, 9.0)


def test_transport_over_grpc(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    request = pb.ClassifyRequest(
        payload=b'{"error": {"code": 130429}}', transport=pb.Transport(http_status=429)
    )
    [found] = stub.Classify(request, timeout=10).classifications
    assert found.context.http_status == 429
    usage = pb.Transport(http_status=400, headers={"X-Business-Use-Case-Usage": USAGE})
    [coded] = stub.Classify(pb.ClassifyRequest(code=80007, transport=usage)).classifications
    assert (coded.context.http_status, coded.context.carried_code) == (400, 80007)
    bad = pb.ClassifyRequest(text="x", transport=pb.Transport(http_status=99))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(bad, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "transport.http_status: not an HTTP status: 99" in (caught.value.details() or "")


def test_stream_items_accept_a_transport(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    items = [
        pb.ClassifyItem(
            id="a", text="(#130429) Rate limit hit", transport=pb.Transport(http_status=429)
        ),
        pb.ClassifyItem(id="b", text="x", transport=pb.Transport(http_status=700)),
    ]
    [reply] = stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=items)]), timeout=10)
    first, second = reply.results
    assert first.classifications[0].context.http_status == 429
    assert second.status.code == code_pb2.INVALID_ARGUMENT


# ---- presence, context and refusals ---------------------------------------------------


def test_code_0_and_no_code_differ_on_the_wire_and_in_the_cli_json(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    zero = stub.Classify(pb.ClassifyRequest(payload=b'{"error": {"code": 0}}'), timeout=10)
    none = stub.Classify(pb.ClassifyRequest(payload=b'{"error": {"message": "x"}}'), timeout=10)
    assert zero.classifications[0].context.HasField("carried_code")
    assert not none.classifications[0].context.HasField("carried_code")
    lines = ResultLines()
    for reply, expected in ((zero, {"carried_code": "0"}), (none, {})):
        result = pb.ClassifyResult(id="1", classifications=reply.classifications)
        context = orjson.loads(lines.line(result))["classifications"][0]["context"]
        assert {k: v for k, v in context.items() if k == "carried_code"} == expected


def test_subcode_qualifies_the_code_and_never_becomes_one() -> None:
    [found] = extract_errors({"error": {"code": 100, "error_subcode": 2494010}})
    assert (found.code, found.subcode) == (100, 2494010)
    [alone] = extract_errors({"error": {"error_subcode": 2494010}})
    assert (alone.code, alone.subcode) == (None, 2494010)


def test_inbound_errors_are_marked_on_both_readers() -> None:
    body = orjson.dumps(
        {"entry": [{"changes": [{"value": {"messages": [{"id": "m", "errors": [{"code": 1}]}]}}]}]}
    )
    fast = extract_webhook_errors(body)
    assert fast is not None and fast[0].inbound and fast[0].context.inbound
    assert fast == extract_errors(orjson.loads(body))


def test_structured_errors_take_the_new_fields() -> None:
    error = pb.StructuredError(
        code=-1, error_user_msg="Try later", fbtrace_id="T", is_transient=True, href="h"
    )
    [decision] = CLASSIFIER.classify_structured(error)
    raw = decision.raw
    assert (raw.code, raw.symbolic_code, raw.user_message, raw.is_transient) == (
        None,
        "-1",
        "Try later",
        True,
    )
    assert (raw.context.fbtrace_id, raw.context.href) == ("T", "h")


def test_input_holding_no_error_names_the_shapes_read(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(pb.ClassifyRequest(payload=b'{"hello": {"world": 1}}'), timeout=10)
    details = caught.value.details() or ""
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for shape in ("`entry`", "`error`", "`statuses`", "whatsappMessage", "`results`", "`body`"):
        assert shape in details, shape


def test_a_batch_is_read_when_any_item_is_and_refused_when_none_is() -> None:
    found = extract_errors([{"hello": 1}, {"error": {"code": 4}}])
    assert [f.code for f in found] == [4]
    assert extract_errors([]) == []


def test_a_bare_code_with_a_transport_leaves_the_plain_answer_alone(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    """The bare-code answer is cached per code; a transport's status must not leak into it."""
    with_transport = pb.ClassifyRequest(code=131047, transport=pb.Transport(http_status=503))
    [first] = stub.Classify(with_transport, timeout=10).classifications
    assert first.context.http_status == 503
    [plain] = stub.Classify(pb.ClassifyRequest(code=131047), timeout=10).classifications
    assert plain.context.http_status == 0
