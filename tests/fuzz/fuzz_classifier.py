"""`make fuzz`: the classifier fuzzed in process with hypothesis for FUZZ_SECONDS.

Not collected by `make test` (the name does not match test_*.py). Each target
runs rounds of hypothesis examples until its share of FUZZ_SECONDS (default
60) is used up, each round with fresh randomness; a failure is shrunk and
saved in .hypothesis/ so the next run replays it first.

What must hold for any input: the readers raise nothing but InputError; every
decision is well formed and its pre-serialised response bytes parse back to
exactly the message-built response; the typed fast path finds exactly what
the generic reader finds (or declines); the text matcher only names catalog
codes; generated webhooks give one decision per error, in payload order.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.classifier_strategies import (
    bad_code_forms,
    code_forms,
    codes,
    dumps,
    envelopes,
    json_values,
    payloads,
    texts,
    transports,
    webhooks,
)
from tests.support.oracle import to_message
from tests.test_properties import sane
from whatsapp_errors.server.catalog import load_catalog
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.codes import parse_code
from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.server.classify.found import InputError
from whatsapp_errors.server.classify.generic_reader import extract_errors, loads
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors
from whatsapp_errors.server.rpc.wire import WireEncoder
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "60"))
CLASSIFIER = Classifier(load_catalog())
ENCODER = WireEncoder(CLASSIFIER.version)
_MSGSPEC = msgspec.json.Decoder()
_FAILED = object()
ROUND = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
"""One round: small, so a target overshoots its share of the budget by little."""


def answered(decisions: list[Decision]) -> None:
    """Every decision is sane and the wire bytes equal the message-built response."""
    for decision in decisions:
        sane(to_message(decision))
    built = pb.ClassifyResponse(
        classifications=[to_message(d) for d in decisions], catalog_version=CLASSIFIER.version
    )
    assert pb.ClassifyResponse.FromString(ENCODER.classify_response(decisions)) == built


def read(run: Callable[[], list[Decision]]) -> list[Decision] | InputError:
    """Runs a reader: its decisions (checked), or the InputError it raised (nothing else)."""
    try:
        decisions = run()
    except InputError as error:
        assert error.field and error.description
        return error
    answered(decisions)
    return decisions


@ROUND
@given(payload=payloads)
def fuzz_payloads(payload: bytes) -> None:
    """Any bytes: decisions or InputError, and both paths agree."""
    result = read(lambda: CLASSIFIER.classify_payload(payload))
    if not payload:
        return
    try:
        generic: Any = extract_errors(loads(payload))
    except InputError as error:
        generic = str(error)
    try:
        fast: Any = extract_webhook_errors(payload)
    except InputError as error:
        fast = str(error)
    agree = fast is None or _parsers_agree(payload)
    if agree:
        assert fast is None or fast == generic
    expected = generic if agree else fast  # classify_payload answers from the fast path
    if isinstance(result, InputError):
        assert isinstance(expected, str)
    else:
        assert [d.raw for d in result] == expected


def _parsers_agree(payload: bytes) -> bool:
    """Whether orjson (generic path) and msgspec (fast path) read the same document.

    They differ only on numbers past 64-bit integers (orjson: a float, or an
    error past the double range; msgspec: the exact integer, even in fields
    it skips); there the two paths may answer differently, both cleanly.
    """
    try:
        parsed: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        parsed = _FAILED
    try:
        decoded: Any = _MSGSPEC.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        decoded = _FAILED
    return _same(parsed, decoded)


def _same(left: Any, right: Any) -> bool:
    """Equal and of the same types throughout: 2**64 == float(2**64), but they print apart."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


@ROUND
@given(pair=webhooks())
def fuzz_webhooks(pair: tuple[dict[str, Any], list[str]]) -> None:
    """Generated webhooks: one decision per error (or bare failure), in order."""
    webhook, wamids = pair
    decisions = CLASSIFIER.classify_payload(dumps(webhook))
    answered(decisions)
    assert [d.raw.context.message_id for d in decisions] == wamids


@ROUND
@given(document=json_values)
def fuzz_documents(document: Any) -> None:
    """Any parsed JSON value, and the same value as a Struct when it is an object."""
    read(lambda: CLASSIFIER.classify_document(document))
    if isinstance(document, dict):
        try:
            struct = json_format.ParseDict(document, struct_pb2.Struct())
        except json_format.ParseError:
            return  # not representable as a Struct (a client could not send it)
        read(lambda: CLASSIFIER.classify_struct(struct))


@ROUND
@given(text=texts)
def fuzz_texts(text: str) -> None:
    """Any text: one decision, or InputError when blank; matches name catalog codes."""
    result = read(lambda: CLASSIFIER.classify_text(text))
    assert isinstance(result, InputError) == (not text.strip())
    match = CLASSIFIER.text.match(text, text[::-1], "")
    if match is not None:
        assert match.code in CLASSIFIER.catalog.listings
        assert 0.0 < match.confidence <= 1.0


@ROUND
@given(code=st.one_of(codes, st.integers(-(2**63), -1)))
def fuzz_codes(code: int) -> None:
    """Any int64: one decision carrying the code, or InputError when negative."""
    result = read(lambda: CLASSIFIER.classify_code(code))
    if code < 0:
        assert isinstance(result, InputError)
    else:
        assert not isinstance(result, InputError)
        [decision] = result
        assert decision.info.code == code


@ROUND
@given(value=st.one_of(code_forms, bad_code_forms, st.floats(), json_values))
def fuzz_code_forms(value: Any) -> None:
    """parse_code: a valid int64 code, None, or InputError naming the field."""
    try:
        code = parse_code(value, "where")
    except InputError as error:
        assert error.field == "where"
        return
    assert code is None or 0 <= code <= 2**63 - 1


@ROUND
@given(
    code=st.one_of(st.none(), codes),
    subcode=st.one_of(st.just(0), codes),
    title=texts,
    message=texts,
    details=texts,
    http_status=st.integers(-(2**31), 2**31 - 1),
)
def fuzz_structured(
    code: int | None, subcode: int, title: str, message: str, details: str, http_status: int
) -> None:
    """Any StructuredError: one decision or InputError."""
    error = pb.StructuredError(
        subcode=subcode, title=title, message=message, details=details, http_status=http_status
    )
    if code is not None:
        error.code = code
    result = read(lambda: CLASSIFIER.classify_structured(error))
    if not isinstance(result, InputError):
        assert len(result) == 1


@ROUND
@given(body=envelopes())
def fuzz_envelopes(body: Any) -> None:
    """BSP and tool bodies: decisions or InputError; the fast path declines or agrees."""
    payload = dumps(body)
    read(lambda: CLASSIFIER.classify_payload(payload))
    fast = None
    try:
        fast = extract_webhook_errors(payload)
    except InputError:
        return
    if fast is not None and _parsers_agree(payload):
        assert fast == extract_errors(loads(payload))


@ROUND
@given(transport=transports, text=texts, code=codes)
def fuzz_transport(transport: dict[str, Any], text: str, code: int) -> None:
    """Any transport with any input: decisions carrying its status, or InputError naming it."""
    request = pb.Transport(**transport)
    for run in (
        lambda: CLASSIFIER.classify_code(code, request),
        lambda: CLASSIFIER.classify_text(text if text.strip() else "x", "text", request),
    ):
        result = read(run)
        if isinstance(result, InputError):
            assert result.field == "transport.http_status"
        else:
            for decision in result:
                wait = decision.raw.retry_after_seconds
                assert wait is None or 0 <= wait <= 31 * 86_400


TARGETS: list[Callable[[], None]] = [
    fuzz_payloads,
    fuzz_webhooks,
    fuzz_envelopes,
    fuzz_transport,
    fuzz_documents,
    fuzz_texts,
    fuzz_codes,
    fuzz_code_forms,
    fuzz_structured,
]


@pytest.mark.timeout(FUZZ_SECONDS + 300)
@pytest.mark.parametrize("target", TARGETS, ids=[t.__name__ for t in TARGETS])
def test_fuzz(target: Callable[[], None]) -> None:
    """Rounds of `target` until its share of FUZZ_SECONDS is spent (at least one round)."""
    end = time.monotonic() + FUZZ_SECONDS / len(TARGETS)
    rounds = 0
    while True:
        target()
        rounds += 1
        if time.monotonic() >= end:
            break
    _LOGGER.info("%s: %d rounds of up to 50 examples", target.__name__, rounds)
