"""Confidence means something: each kind of evidence has its band, and bands rank evidence.

The table below says, per kind of input evidence, the confidence a decision
gets. Over the whole corpus, a higher band is never less often right than a
lower one: "right" is the corpus's expected code, category and strategy.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_corpus import VALID, request_for
from whatsapp_errors.server.catalog import load_catalog
from whatsapp_errors.server.classify import Classifier
from whatsapp_errors.server.classify.error_context import to_found
from whatsapp_errors.server.classify.found import RawError
from whatsapp_errors.v1 import error_catalog_pb2 as pb

CLASSIFIER = Classifier(load_catalog())

BANDS: list[tuple[str, dict[str, Any], pb.MatchKind.ValueType, float, float]] = [
    # (evidence, RawError fields, match kind, lowest, highest confidence)
    ("code of the provider's document", {"code": 131047}, pb.MATCH_KIND_EXACT_CODE, 1.0, 1.0),
    ("code of a document range", {"code": 115003}, pb.MATCH_KIND_CODE_RANGE, 1.0, 1.0),
    ("Meta code", {"code": 131026}, pb.MATCH_KIND_EXACT_CODE, 0.95, 0.95),
    (
        "code and subcode pair",
        {"code": 190, "subcode": 463},
        pb.MATCH_KIND_CODE_AND_SUBCODE,
        0.95,
        0.95,
    ),
    (
        "generic code, listed subcode",
        {"code": 100, "subcode": 131026},
        pb.MATCH_KIND_SUBCODE,
        0.95,
        0.95,
    ),
    (
        "code with a details rule",
        {"code": 131053, "details": "failed with http code 502"},
        pb.MATCH_KIND_DETAILS_RULE,
        0.9,
        0.9,
    ),
    (
        "code read from text",
        {"message": "(#131026) Message undeliverable"},
        pb.MATCH_KIND_EXACT_CODE,
        0.9,
        0.9,
    ),
    ("no code, exact title", {"title": "Template Paused"}, pb.MATCH_KIND_MESSAGE_TEXT, 0.75, 0.9),
    (
        "a BSP's own code in its envelope",
        {"code": 63016, "shape": "twilio"},
        pb.MATCH_KIND_EXACT_CODE,
        0.85,
        0.85,
    ),
    (
        "no code, a BSP's documented message",
        {"message": "You have exceeded the limit of 1 request every 5 s.", "shape": "360dialog"},
        pb.MATCH_KIND_MESSAGE_TEXT,
        0.8,
        0.8,
    ),
    ("no code, HTTP status", {"http_status": 502}, pb.MATCH_KIND_HTTP_STATUS, 0.7, 0.7),
    (
        "unlisted code, strong text",
        {"code": 555555, "title": "Template Paused"},
        pb.MATCH_KIND_MESSAGE_TEXT,
        0.6,
        0.6,
    ),
    ("unlisted code in a block", {"code": 131999}, pb.MATCH_KIND_CODE_FAMILY, 0.5, 0.5),
    (
        "unlisted code, HTTP status",
        {"code": 999_777, "http_status": 502},
        pb.MATCH_KIND_HTTP_STATUS,
        0.35,
        0.35,
    ),
    ("only the transient hint", {"is_transient": True}, pb.MATCH_KIND_TRANSIENT_HINT, 0.3, 0.3),
    ("nothing", {"code": 999_778}, pb.MATCH_KIND_NONE, 0.0, 0.0),
]


@pytest.mark.parametrize("band", BANDS, ids=[b[0] for b in BANDS])
def test_each_kind_of_evidence_has_its_band(
    band: tuple[str, dict[str, Any], pb.MatchKind.ValueType, float, float],
) -> None:
    _, fields, kind, lowest, highest = band
    decision = CLASSIFIER.decide(to_found(RawError(**fields)))
    assert decision.match_kind == kind
    assert lowest - 1e-6 <= decision.confidence <= highest + 1e-6


def test_the_bands_are_ordered_as_the_evidence() -> None:
    highs = [b[4] for b in BANDS]
    assert highs == sorted(highs, reverse=True)


def _band(confidence: float) -> int:
    return 0 if confidence >= 0.9 else 1 if confidence >= 0.5 else 2


def _right(found: pb.Classification, expect: dict[str, Any]) -> bool:
    info = found.error_info
    if "code" in expect and info.code != expect["code"]:
        return False
    if "category" in expect and pb.Category.Name(info.category) != f"CATEGORY_{expect['category']}":
        return False
    strategy = expect.get("strategy")
    return strategy is None or pb.RetryStrategy.Name(info.retry_strategy) == (
        f"RETRY_STRATEGY_{strategy}"
    )


def test_over_the_corpus_a_higher_band_is_never_less_often_right() -> None:
    right = [0, 0, 0]
    total = [0, 0, 0]
    for case in VALID:
        request = request_for(case["input"])
        decisions = CLASSIFIER.classify_input(request, request.WhichOneof("input"))
        for decision, expect in zip(decisions, case["expect"], strict=False):
            found = pb.Classification(error_info=decision.info, match_kind=decision.match_kind)
            band = _band(decision.confidence)
            total[band] += 1
            right[band] += _right(found, expect)
    assert all(total), total  # every band is exercised by the corpus
    rates = [r / t for r, t in zip(right, total, strict=True)]
    assert rates[0] >= rates[1] >= rates[2], (rates, total)
