"""The msgspec fast path finds exactly what the generic path finds, or declines.

Checked on every payload of the corpus, on the benchmark's mixed webhooks,
and on webhooks hypothesis builds with odd but legal variants (codes as
strings and floats, missing fields, string error_data, extra keys).
"""

from __future__ import annotations

from typing import Any

import grpc
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.webhooks import mixed_payloads
from tests.test_corpus import CASES
from whatsapp_errors.server.classify.found import MAX_ERRORS, FoundError, InputError
from whatsapp_errors.server.classify.generic_reader import extract_errors, loads
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc


def generic(payload: bytes) -> list[FoundError] | str:
    """The generic path's answer, or its error message."""
    try:
        return extract_errors(loads(payload), "payload")
    except InputError as exc:
        return str(exc)


def fast(payload: bytes) -> list[FoundError] | str | None:
    """The fast path's answer, its error message, or None when it declines."""
    try:
        return extract_webhook_errors(payload, "payload")
    except InputError as exc:
        return str(exc)


def assert_agree(payload: bytes) -> bool:
    """Fails when the paths disagree; returns whether the fast path answered."""
    answer = fast(payload)
    if answer is None:
        return False
    assert answer == generic(payload)
    return True


CORPUS_PAYLOADS = [
    orjson.dumps(case["input"]["payload"]) for case in CASES if "payload" in case["input"]
]


@pytest.mark.parametrize("payload", CORPUS_PAYLOADS)
def test_corpus_payloads_agree(payload: bytes) -> None:
    assert_agree(payload)


def test_the_fast_path_answers_the_common_shapes() -> None:
    payloads = mixed_payloads(500)
    answered = sum(assert_agree(payload) for payload in payloads)
    webhooks = sum(payload.startswith(b'{"object"') for payload in payloads)
    assert answered == len(payloads)  # every webhook and Graph API error of the mix
    assert 0 < webhooks < len(payloads)


def test_graph_api_errors_take_the_fast_path_and_agree() -> None:
    for payload in (
        b'{"error": {"code": 131047}}',
        b'{"error": "Session expired"}',
        b'{"error": {"message": "(#131056) pair rate", "code": "131056", "error_subcode": 2494100,'
        b' "error_data": {"details": "slow down"}, "is_transient": "TRUE", "type": "x"}}',
        b'{"error": {"code": 4}, "statuses": [{"errors": [{"code": 1}]}]}',  # `error` wins
        b'{"error": {}}',
    ):
        assert assert_agree(payload), payload


def test_it_declines_what_only_the_generic_path_reads() -> None:
    assert fast(b'{"error": null}') is None  # the generic path names the problem
    assert fast(b'{"error": 131047}') is None
    assert fast(b'{"error": {"error_data": [1]}}') is None
    assert fast(b'{"code": 131047}') is None  # a bare error object
    assert fast(b"[1, 2]") is None
    assert fast(b'{"entry": [{"changes": [{"value": {"statuses": "x"}}]}]}') is None
    assert fast(b'{"entry": [], "pricing": "\xff"}') is None  # not UTF-8, even where skipped
    deep = b'{"entry": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert fast(deep) is None
    two_containers = (
        b'{"entry": [{"changes": [{"value": {"errors": [{"code": 1}], "statuses": []}}]}]}'
    )
    assert fast(two_containers) is None  # payload order depends on key order


def test_bad_codes_are_left_to_the_generic_path_and_its_message() -> None:
    payload = b'{"entry": [{"changes": [{"value": {"statuses": [{"errors": [{"code": true}]}]}}]}]}'
    assert fast(payload) is None
    message = generic(payload)
    assert isinstance(message, str)
    assert "statuses[0].errors[0].code" in message


@pytest.mark.parametrize(
    "error",
    [
        b'{"code": "TOO_MANY_REQUESTS"}',  # a symbolic code
        b'{"code": -1}',  # a sentinel
        b'{"code": 4, "whatsappApiError": {"code": 131056}}',  # a nested Meta error
        b'{"ErrorCode": 63016}',  # a key only BSPs use
        b'{"type": "https://developer.vonage.com/api-errors#1120", "title": "Invalid sender"}',
    ],
    ids=["symbolic", "sentinel", "nested", "bsp-key", "problem-link"],
)
def test_new_shapes_decline_and_the_generic_path_reads_them(error: bytes) -> None:
    webhook = b'{"entry": [{"changes": [{"value": {"errors": [' + error + b"]}}]}]}"
    for payload in (webhook, b'{"error": ' + error + b"}"):
        assert fast(payload) is None, payload
        found = generic(payload)
        assert isinstance(found, list) and len(found) == 1, found


def test_vendor_context_beside_a_graph_error_declines() -> None:
    payload = b'{"message_uuid": "u-1", "status": "rejected", "error": {"title": "x"}}'
    assert fast(payload) is None
    found = generic(payload)
    assert isinstance(found, list)
    assert found[0].context.message_id == "u-1" and found[0].context.status == "rejected"


def test_codes_written_in_text_are_read_alike_on_both_paths() -> None:
    for error in (
        b'{"message": "(#131047) Re-engagement message"}',
        b'{"title": "Failed", "error_data": {"details": "error_subcode=2494010 code: 100"}}',
        b'{"message": "send failed: {\\"code\\": 131026}"}',
    ):
        payload = b'{"entry": [{"changes": [{"value": {"errors": [' + error + b"]}}]}]}"
        assert assert_agree(payload), payload
        answer = fast(payload)
        assert isinstance(answer, list)
        assert answer[0].code_from_text and answer[0].code is not None


_text = st.one_of(st.none(), st.text(max_size=12), st.integers(-5, 10**6), st.booleans())
_code = st.one_of(
    st.integers(0, 10**7),
    st.integers(0, 10**7).map(str),
    st.integers(0, 10**6).map(float),
    st.just(" 131047 "),
    st.none(),
)
_error = st.fixed_dictionaries(
    {},
    optional={
        "code": _code,
        "error_code": _code,
        "error_subcode": _code,
        "title": _text,
        "message": _text,
        "error_user_msg": _text,
        "error_data": st.one_of(
            st.none(), st.text(max_size=8), st.fixed_dictionaries({"details": _text})
        ),
        "details": _text,
        "href": _text,
        "fbtrace_id": _text,
        "type": _text,
        "is_transient": st.one_of(st.booleans(), st.sampled_from(["true", "False", "x"])),
        "http_status": st.one_of(st.integers(0, 700), st.booleans()),
        "extra": st.dictionaries(st.text(max_size=3), st.integers(-(2**62), 2**62), max_size=2),
    },
)
_status = st.fixed_dictionaries(
    {},
    optional={
        "id": _text,
        "status": st.sampled_from(["failed", "FAILED", "delivered", "read", ""]),
        "timestamp": st.one_of(st.text(max_size=10), st.integers(0, 2**40)),
        "recipient_id": _text,
        "errors": st.one_of(st.none(), st.lists(_error, max_size=3)),
        "pricing": st.just({"billable": True}),
    },
)
_message = st.fixed_dictionaries(
    {"id": _text}, optional={"errors": st.one_of(st.none(), st.lists(_error, max_size=2))}
)
_value = st.one_of(
    st.fixed_dictionaries({"statuses": st.lists(_status, max_size=3)}),
    st.fixed_dictionaries({"messages": st.lists(_message, max_size=3)}),
    st.fixed_dictionaries({"errors": st.lists(_error, max_size=3)}),
).flatmap(
    lambda value: st.fixed_dictionaries(
        {**{key: st.just(item) for key, item in value.items()}},
        optional={"metadata": st.fixed_dictionaries({"phone_number_id": _text})},
    )
)
_webhook = st.fixed_dictionaries(
    {
        "entry": st.lists(
            st.fixed_dictionaries(
                {"id": _text},
                optional={
                    "changes": st.lists(
                        st.fixed_dictionaries({}, optional={"value": _value}), max_size=3
                    )
                },
            ),
            max_size=3,
        )
    },
    optional={"object": st.just("whatsapp_business_account")},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_webhook)
def test_generated_webhooks_agree(webhook: dict[str, Any]) -> None:
    assert_agree(orjson.dumps(webhook))


_graph_body = st.fixed_dictionaries(
    {"error": st.one_of(_error, st.text(max_size=12))},
    optional={"statuses": st.just([{"errors": [{"code": 1}]}])},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_graph_body)
def test_generated_graph_errors_agree(body: dict[str, Any]) -> None:
    """Graph API errors take the fast path unless they carry a key it does not read."""
    answered = assert_agree(orjson.dumps(body))
    error = body["error"]
    assert answered or (isinstance(error, dict) and "extra" in error)


def _many_errors(count: int) -> bytes:
    errors = [{"code": 131047}] * count
    return orjson.dumps({"entry": [{"changes": [{"value": {"statuses": [{"errors": errors}]}}]}]})


def test_errors_per_payload_are_capped_the_same_way_on_both_paths() -> None:
    assert len(fast(_many_errors(MAX_ERRORS))) == MAX_ERRORS  # type: ignore[arg-type]
    refused = fast(_many_errors(MAX_ERRORS + 1))
    assert refused == generic(_many_errors(MAX_ERRORS + 1))
    assert f"more than {MAX_ERRORS} errors in one payload" in str(refused)
    flat = b'{"errors": [' + b",".join([b"1"] * (MAX_ERRORS + 1)) + b"]}"
    assert f"more than {MAX_ERRORS} errors" in str(generic(flat))


def test_a_small_payload_cannot_make_unbounded_work(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    flat = b'{"errors": [' + b",".join([b"1"] * 100_000) + b"]}"  # 200 KB, 100k errors
    with pytest.raises(grpc.RpcError) as refused:
        stub.Classify(pb.ClassifyRequest(payload=flat), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than 10000 errors in one payload" in (refused.value.details() or "")


def test_a_payload_over_4_mib_is_refused_by_size(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    body = b'{"errors": [], "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    with pytest.raises(grpc.RpcError) as refused:
        stub.Classify(pb.ClassifyRequest(payload=body), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit of 4194304 (4 MiB)" in (refused.value.details() or "")


def test_echoed_context_strings_are_capped(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    error = {"code": 131047, "message": "m" * 5000}
    status = {"id": "w" * 5000, "status": "failed", "errors": [error]}
    body = orjson.dumps({"entry": [{"changes": [{"value": {"statuses": [status]}}]}]})
    context = stub.Classify(pb.ClassifyRequest(payload=body), timeout=10).classifications[0].context
    assert context.message_id == "w" * 256
    assert context.message == "m" * 1024
