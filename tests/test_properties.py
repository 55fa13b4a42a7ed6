"""Property tests through a real server: any input gets an answer or a clean INVALID_ARGUMENT.

Random and garbled JSON, random bytes, random texts, random codes and
structured errors never crash the server (no UNKNOWN, no INTERNAL) and every
answer is well formed; generated webhooks give exactly one decision per error
(or per failed status without errors) in payload order. Bounded so the module
runs in well under 20 s; `make fuzz` explores the same space in process for
longer.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from google.rpc import code_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.classifier_strategies import (
    MAX_CODE,
    bad_code_forms,
    codes,
    dumps,
    json_values,
    payloads,
    texts,
    webhooks,
)
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RETRYABLE = {pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF, pb.RETRY_STRATEGY_RETRY_AFTER}


def sane(found: pb.Classification) -> None:
    """What every classification must be, whatever the input."""
    info = found.error_info
    assert info.category != pb.CATEGORY_UNSPECIFIED
    assert info.retry_strategy != pb.RETRY_STRATEGY_UNSPECIFIED
    assert info.actor != pb.ACTOR_UNSPECIFIED
    assert info.source != pb.SOURCE_UNSPECIFIED
    assert found.match_kind != pb.MATCH_KIND_UNSPECIFIED
    assert 0.0 <= found.confidence <= 1.0
    assert info.retryable is (info.retry_strategy in RETRYABLE)
    assert info.reason
    if found.match_kind == pb.MATCH_KIND_NONE:
        assert info.category == pb.CATEGORY_UNKNOWN
        assert found.confidence == 0.0
    if info.retry_strategy == pb.RETRY_STRATEGY_RETRY_AFTER:
        assert info.retry_after.seconds > 0


def answer(stub: pb_grpc.ErrorCatalogServiceStub, request: pb.ClassifyRequest) -> Any:
    """The classifications, or the status code and details of a refusal (INVALID_ARGUMENT only)."""
    try:
        reply = stub.Classify(request, timeout=10)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
        assert error.details()
        return error.details()
    assert reply.catalog_version
    for found in reply.classifications:
        sane(found)
    return list(reply.classifications)


@BOUNDED
@given(code=codes)
def test_any_code_gets_exactly_one_answer_carrying_it(
    stub: pb_grpc.ErrorCatalogServiceStub, code: int
) -> None:
    [found] = answer(stub, pb.ClassifyRequest(code=code))
    assert found.error_info.code == code
    assert found.context.original_code == code


@BOUNDED
@given(code=st.integers(-(2**63), -1))
def test_negative_codes_are_invalid(stub: pb_grpc.ErrorCatalogServiceStub, code: int) -> None:
    assert "code" in answer(stub, pb.ClassifyRequest(code=code))


@BOUNDED
@given(text=texts)
def test_any_text_gets_one_answer_or_is_blank(
    stub: pb_grpc.ErrorCatalogServiceStub, text: str
) -> None:
    result = answer(stub, pb.ClassifyRequest(text=text))
    if text.strip():
        assert len(result) == 1
    else:
        assert "text" in result


@settings(BOUNDED, max_examples=200)
@given(payload=payloads)
def test_any_payload_gets_answers_or_invalid_argument(
    stub: pb_grpc.ErrorCatalogServiceStub, payload: bytes
) -> None:
    result = answer(stub, pb.ClassifyRequest(payload=payload))
    if isinstance(result, str):
        assert result.startswith("payload") or "payload" in result


@settings(BOUNDED, max_examples=100)
@given(pair=webhooks())
def test_generated_webhooks_give_one_decision_per_error_in_order(
    stub: pb_grpc.ErrorCatalogServiceStub, pair: tuple[dict[str, Any], list[str]]
) -> None:
    webhook, wamids = pair
    found = answer(stub, pb.ClassifyRequest(payload=dumps(webhook)))
    assert [c.context.message_id for c in found] == wamids
    paths = [c.context.path for c in found]
    assert paths == sorted(paths, key=_path_key)


@BOUNDED
@given(code=bad_code_forms, key=st.sampled_from(["code", "error_code", "error_subcode"]))
def test_a_bad_code_anywhere_is_invalid_and_named(
    stub: pb_grpc.ErrorCatalogServiceStub, code: Any, key: str
) -> None:
    webhook = {
        "entry": [
            {"changes": [{"value": {"statuses": [{"status": "failed", "errors": [{key: code}]}]}}]}
        ]
    }
    details = answer(stub, pb.ClassifyRequest(payload=dumps(webhook)))
    assert isinstance(details, str)
    assert f"payload.entry[0].changes[0].value.statuses[0].errors[0].{key}" in details


@settings(BOUNDED, max_examples=100)
@given(document=st.dictionaries(st.text(max_size=12), json_values, max_size=5))
def test_any_json_object_gets_answers_or_invalid_argument(
    stub: pb_grpc.ErrorCatalogServiceStub, document: dict[str, Any]
) -> None:
    struct = json_format.ParseDict(document, struct_pb2.Struct())
    result = answer(stub, pb.ClassifyRequest(json=struct))
    if isinstance(result, str):
        assert "json" in result


@BOUNDED
@given(
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
    key=st.sampled_from(["code", "http_status", "pricing"]),
)
def test_numbers_json_cannot_hold_are_invalid_not_a_crash(
    stub: pb_grpc.ErrorCatalogServiceStub, value: float, key: str
) -> None:
    """Regression: a NaN or Infinity in a Struct was an UNKNOWN error that ended streams."""
    struct = struct_pb2.Struct()
    struct.fields["code"].number_value = 131047
    struct.fields[key].number_value = value
    assert "json" in answer(stub, pb.ClassifyRequest(json=struct))


@BOUNDED
@given(
    code=st.one_of(st.none(), codes),
    subcode=st.one_of(st.just(0), codes),
    title=texts,
    message=texts,
    details=texts,
    http_status=st.one_of(st.just(0), st.integers(100, 599), st.integers(-5, 2**31 - 1)),
)
def test_any_structured_error_gets_one_answer_or_invalid_argument(
    stub: pb_grpc.ErrorCatalogServiceStub,
    code: int | None,
    subcode: int,
    title: str,
    message: str,
    details: str,
    http_status: int,
) -> None:
    error = pb.StructuredError(
        subcode=subcode, title=title, message=message, details=details, http_status=http_status
    )
    if code is not None:
        error.code = code
    result = answer(stub, pb.ClassifyRequest(error=error))
    bad_status = http_status != 0 and not 100 <= http_status <= 599
    empty = code is None and not (subcode or title or message or details or http_status)
    if bad_status or empty:
        assert "error" in result
    else:
        [found] = result
        assert found.context.http_status == http_status


@settings(BOUNDED, max_examples=40)
@given(
    inputs=st.lists(
        st.one_of(
            payloads.map(lambda p: pb.ClassifyItem(payload=p)),
            texts.map(lambda t: pb.ClassifyItem(text=t)),
            st.integers(-5, MAX_CODE).map(lambda c: pb.ClassifyItem(code=c)),
            st.builds(pb.ClassifyItem),  # no input at all
        ),
        max_size=30,
    )
)
def test_a_stream_of_random_items_answers_every_item(
    stub: pb_grpc.ErrorCatalogServiceStub, inputs: list[pb.ClassifyItem]
) -> None:
    for i, item in enumerate(inputs):
        item.id = str(i)
    half = len(inputs) // 2
    batches = [
        pb.ClassifyStreamRequest(items=inputs[:half]),
        pb.ClassifyStreamRequest(items=inputs[half:]),
    ]
    replies = list(stub.ClassifyStream(iter(batches), timeout=10))
    results = [result for reply in replies for result in reply.results]
    assert [r.id for r in results] == [str(i) for i in range(len(inputs))]
    for result in results:
        assert result.status.code in (code_pb2.OK, code_pb2.INVALID_ARGUMENT)
        if result.status.code == code_pb2.OK:
            for found in result.classifications:
                sane(found)
        else:
            assert not result.classifications
            assert result.status.message


def _path_key(path: str) -> list[int]:
    """A context path's indices, so payload order sorts as numbers, not text."""
    return [int(part.split("]")[0]) for part in path.split("[")[1:]]


def test_path_key_sorts_numerically() -> None:
    assert _path_key("payload.entry[9].changes[2]") < _path_key("payload.entry[10].changes[0]")
