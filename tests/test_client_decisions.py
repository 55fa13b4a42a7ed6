"""Per-message decisions and the re-exported enums, on answers from a real server.

A webhook's errors are grouped by message id; the strictest action decides
(do not retry > fix first > resend) and the longest wait wins among resends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import ServerThread
from whatsapp_errors import client
from whatsapp_errors.client import (
    Actor,
    Category,
    ErrorClient,
    MatchKind,
    MessageDecision,
    RetryStrategy,
    Source,
    decide,
    decide_per_message,
)
from whatsapp_errors.client.enums import PROTO_ENUMS
from whatsapp_errors.v1 import error_catalog_pb2 as pb


def status(wamid: str, *codes: int) -> dict[str, Any]:
    """One failed status of message `wamid` with one error per code."""
    return {
        "id": wamid,
        "status": "failed",
        "timestamp": "1689380458",
        "recipient_id": "15551234567",
        "errors": [{"code": code, "title": f"error {code}"} for code in codes],
    }


def webhook(*statuses: dict[str, Any]) -> dict[str, Any]:
    """A Meta status webhook carrying `statuses`."""
    value = {"metadata": {"phone_number_id": "106540352242922"}, "statuses": list(statuses)}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


@dataclass(frozen=True)
class Codes:
    """Catalog entries picked by their kind of decision: the catalog data changes, kinds stay."""

    short_wait: pb.ErrorInfo
    long_wait: pb.ErrorInfo
    backoff: pb.ErrorInfo
    fix: pb.ErrorInfo
    give_up: pb.ErrorInfo


@pytest.fixture(scope="module")
def errors(server: ServerThread) -> Iterator[ErrorClient]:
    with ErrorClient(server.target) as connected:
        yield connected


@pytest.fixture(scope="module")
def codes(errors: ErrorClient) -> Codes:
    entries = [e for e in errors.list_errors() if e.code > 100]  # webhook-style codes
    after = sorted(
        (e for e in entries if e.retryable and e.retry_strategy == pb.RETRY_STRATEGY_RETRY_AFTER),
        key=lambda e: e.retry_after.ToTimedelta(),
    )
    return Codes(
        short_wait=after[0],
        long_wait=after[-1],
        backoff=next(
            e
            for e in entries
            if e.retryable and e.retry_strategy == pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF
        ),
        fix=next(
            e
            for e in entries
            if not e.retryable and e.retry_strategy == pb.RETRY_STRATEGY_FIX_TEMPLATE
        ),
        give_up=next(e for e in entries if e.retry_strategy == pb.RETRY_STRATEGY_DO_NOT_RETRY),
    )


def mixed(codes: Codes) -> dict[str, Any]:
    return webhook(
        status("wamid.A", codes.short_wait.code),  # resend after a short wait
        status("wamid.B", codes.backoff.code, codes.fix.code),  # transient + fix first
        status("wamid.C", codes.fix.code, codes.give_up.code),  # fix + nothing helps
        status("wamid.A", codes.long_wait.code),  # the same message again: the longest wait
        status("wamid.D", codes.backoff.code),  # transient: backoff
    )


@pytest.fixture(scope="module")
def decisions(errors: ErrorClient, codes: Codes) -> dict[str, MessageDecision]:
    return decide_per_message(errors.classify(mixed(codes)))


def test_one_decision_per_message_in_order_of_first_appearance(
    decisions: dict[str, MessageDecision], codes: Codes
) -> None:
    assert list(decisions) == ["wamid.A", "wamid.B", "wamid.C", "wamid.D"]
    assert decisions["wamid.A"].codes == (codes.short_wait.code, codes.long_wait.code)
    assert all(d.message_id == wamid for wamid, d in decisions.items())


def test_among_resends_the_longest_wait_wins(
    decisions: dict[str, MessageDecision], codes: Codes
) -> None:
    a = decisions["wamid.A"]
    assert codes.long_wait.retry_after.ToTimedelta() > codes.short_wait.retry_after.ToTimedelta()
    assert a.retry and a.wait == codes.long_wait.retry_after.ToTimedelta()
    assert a.code == codes.long_wait.code and a.action is RetryStrategy.RETRY_AFTER
    assert a.actor is Actor(codes.long_wait.actor)


def test_a_fix_beats_a_resend(decisions: dict[str, MessageDecision], codes: Codes) -> None:
    b = decisions["wamid.B"]
    assert not b.retry and b.wait is None
    assert (b.code, b.action) == (codes.fix.code, RetryStrategy.FIX_TEMPLATE)
    assert b.action.label == "fix_template"


def test_do_not_retry_beats_a_fix(decisions: dict[str, MessageDecision], codes: Codes) -> None:
    c = decisions["wamid.C"]
    assert (c.code, c.action, c.retry) == (codes.give_up.code, RetryStrategy.DO_NOT_RETRY, False)


def test_backoff_grows_with_the_attempt(errors: ErrorClient, codes: Codes) -> None:
    response = errors.classify(webhook(status("wamid.D", codes.backoff.code)))
    first = codes.backoff.retry_after.ToTimedelta() or timedelta(seconds=1)
    assert decide_per_message(response)["wamid.D"].wait == first
    assert decide_per_message(response, attempt=2)["wamid.D"].wait == first * 4
    capped = decide_per_message(response, attempt=30, max_backoff=timedelta(minutes=5))
    assert capped["wamid.D"].wait == timedelta(minutes=5)


def test_stream_results_and_errors_without_a_message(errors: ErrorClient, codes: Codes) -> None:
    graph = b'{"error": {"code": 132001, "message": "(#132001) Template name does not exist"}}'
    results = list(errors.classify_stream([mixed(codes), b"{not json", graph]))
    assert results[1].status.code != 0
    decided = decide_per_message(results)
    assert list(decided) == ["wamid.A", "wamid.B", "wamid.C", "wamid.D", ""]
    assert decided[""].retry is False
    assert decide_per_message(results[1]) == {}
    assert decide_per_message(errors.classify(webhook())) == {}


def test_decide_needs_an_error() -> None:
    with pytest.raises(ValueError, match="no errors"):
        decide([])


# ---- enums ---------------------------------------------------------------------------


@pytest.mark.parametrize("mirror", list(PROTO_ENUMS), ids=lambda e: e.__name__)
def test_every_proto_enum_value_has_its_member(mirror: Any) -> None:
    proto = PROTO_ENUMS[mirror]
    prefix = proto.Name(0).removesuffix("UNSPECIFIED")
    assert {name.removeprefix(prefix): value for name, value in proto.items()} == {
        member.name: member.value for member in mirror
    }


def test_enums_are_reexported_and_equal_their_wire_values(errors: ErrorClient) -> None:
    assert (client.Category, client.Source, client.MatchKind) == (Category, Source, MatchKind)
    quota = list(errors.list_errors(category=Category.QUOTA))
    assert quota and all(Category(e.category) is Category.QUOTA for e in quota)
    assert int(Category.QUOTA) == pb.CATEGORY_QUOTA and str(Category.RATE_LIMIT) == "RATE_LIMIT"
    found = errors.classify(131047).classifications[0]
    assert MatchKind(found.match_kind) is MatchKind.EXACT_CODE
    assert Source(found.error_info.source) is Source.PROVIDER_DOCUMENT


def test_a_value_from_a_newer_server_reads_back_instead_of_failing() -> None:
    newer = RetryStrategy(999)
    assert newer == 999 and newer.name == "UNRECOGNIZED_999" and newer.label == "unrecognized_999"
    with pytest.raises(ValueError):
        RetryStrategy("FIX_TEMPLATE")  # type: ignore[arg-type]
