"""The corpus in tests/corpus/ through `Classify` on a real server.

Each case is a realistic input (status webhooks and their odd variants,
value-level and inbound-message errors, Graph API errors, provider error
objects, error texts, structured errors, pasted JSON) with the decisions it
must produce, in payload order; invalid cases name the INVALID_ARGUMENT they
must get. Adding a case is adding a JSON object: no code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import json_format, struct_pb2

from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

CORPUS = Path(__file__).parent / "corpus"


def load_cases() -> list[dict[str, Any]]:
    """Every case of every corpus file, with its file name for reports."""
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            cases.append({**case, "file": path.name})
    return cases


CASES = load_cases()
VALID = [case for case in CASES if "expect" in case]
INVALID = [case for case in CASES if "invalid" in case]


def request_for(given: dict[str, Any]) -> pb.ClassifyRequest:
    """The ClassifyRequest a caller would send for a case's input."""
    if "payload" in given:
        return pb.ClassifyRequest(payload=orjson.dumps(given["payload"]))
    if "payload_text" in given:
        return pb.ClassifyRequest(payload=given["payload_text"].encode())
    if "payload_hex" in given:
        return pb.ClassifyRequest(payload=bytes.fromhex(given["payload_hex"]))
    if "json" in given:
        return pb.ClassifyRequest(json=json_format.ParseDict(given["json"], struct_pb2.Struct()))
    if "error" in given:
        return pb.ClassifyRequest(error=pb.StructuredError(**given["error"]))
    if "text" in given:
        return pb.ClassifyRequest(text=given["text"])
    return pb.ClassifyRequest(code=given["code"])


def check(found: pb.Classification, expect: dict[str, Any], where: str) -> None:
    """Asserts every expectation a corpus entry names (and nothing it does not)."""
    info = found.error_info
    if "code" in expect:
        assert info.code == expect["code"], where
    if "category" in expect:
        assert pb.Category.Name(info.category) == f"CATEGORY_{expect['category']}", where
    if "strategy" in expect:
        strategy = pb.RetryStrategy.Name(info.retry_strategy)
        assert strategy == f"RETRY_STRATEGY_{expect['strategy']}", where
    if "retryable" in expect:
        assert info.retryable is expect["retryable"], where
    if "actor" in expect:
        assert pb.Actor.Name(info.actor) == f"ACTOR_{expect['actor']}", where
    if "source" in expect:
        assert pb.Source.Name(info.source) == f"SOURCE_{expect['source']}", where
    if "match" in expect:
        assert pb.MatchKind.Name(found.match_kind) == f"MATCH_KIND_{expect['match']}", where
    if "confidence_min" in expect:
        assert found.confidence >= expect["confidence_min"] - 1e-6, where
    if "confidence_max" in expect:
        assert found.confidence <= expect["confidence_max"] + 1e-6, where
    if "retry_after_min" in expect:
        assert info.retry_after.seconds >= expect["retry_after_min"], where
    for field, value in expect.get("context", {}).items():
        if field in _PRESENCE_FIELDS:
            assert found.context.HasField(field), f"{where}: context.{field} unset"
        assert getattr(found.context, field) == value, f"{where}: context.{field}"
    for field in expect.get("absent", []):  # fields that must be unset (presence or empty)
        if field in _PRESENCE_FIELDS:
            assert not found.context.HasField(field), f"{where}: context.{field} set"
        else:
            assert not getattr(found.context, field), f"{where}: context.{field} set"


_PRESENCE_FIELDS = frozenset(("is_transient", "carried_code"))
"""Context fields with presence: a case naming them checks they are set, 0 included."""


def test_corpus_is_large_and_named_uniquely() -> None:
    names = [case["name"] for case in CASES]
    assert len(VALID) >= 60
    assert len(names) == len(set(names))


def test_every_envelope_sample_names_its_source() -> None:
    """Samples of BSP and tool shapes are written here from a documented format: which one."""
    samples = [case for case in CASES if case["file"] == "bsp_and_tool_envelopes.json"]
    assert len(samples) >= 30
    for case in samples:
        assert str(case.get("source", "")).startswith("https://"), case["name"]


@pytest.mark.parametrize("case", VALID, ids=[case["name"] for case in VALID])
def test_case(stub: pb_grpc.ErrorCatalogServiceStub, case: dict[str, Any]) -> None:
    reply = stub.Classify(request_for(case["input"]), timeout=10)
    found = list(reply.classifications)
    assert len(found) == len(case["expect"]), [c.error_info.code for c in found]
    for i, (classification, expect) in enumerate(zip(found, case["expect"], strict=True)):
        check(classification, expect, f"{case['file']}: {case['name']} [{i}]")
    assert reply.catalog_version


@pytest.mark.parametrize("case", INVALID, ids=[case["name"] for case in INVALID])
def test_invalid_case(stub: pb_grpc.ErrorCatalogServiceStub, case: dict[str, Any]) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request_for(case["input"]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert case["invalid"] in (caught.value.details() or "")
