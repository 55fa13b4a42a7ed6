"""Every code of the provider's document, as a bare code and inside a status webhook.

The expected decisions are an explicit table written here from each record's
recommended action (not read from catalog.toml), so a catalog edit that
changes what a caller is told to do fails here and must be argued for.
The table's codes are checked against the document itself
(tests/support/seed_document.py): a new record needs a new row. Where Meta,
the system enforcing the limit, says otherwise than the document's action,
the row follows Meta and says so (tests/test_meta_decisions.py pins them).
"""

from __future__ import annotations

from typing import NamedTuple

import orjson
import pytest

from tests.support.seed_document import load_seed
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

_, RECORDS = load_seed()


class Expected(NamedTuple):
    """What a caller must be told for one code."""

    category: str
    strategy: str
    retryable: bool
    actor: str


def _row(category: str, strategy: str, actor: str) -> Expected:
    return Expected(category, strategy, strategy in ("RETRY_WITH_BACKOFF", "RETRY_AFTER"), actor)


# Curated from each record's "Recommended Action" (and its reason where the action is "—").
TABLE: dict[int, Expected] = {
    # Authorization: permissions and tokens are the business's set-up; "contact support"
    # alone (operator, billing channel) is for the provider's desk.
    111001: _row("AUTHORIZATION", "FIX_CONFIGURATION", "BUSINESS"),
    111002: _row("AUTHORIZATION", "FIX_CONFIGURATION", "BUSINESS"),
    111003: _row("AUTHORIZATION", "FIX_CONFIGURATION", "BUSINESS"),
    111004: _row("AUTHORIZATION", "CONTACT_SUPPORT", "PROVIDER_SUPPORT"),
    111005: _row("AUTHORIZATION", "FIX_CONFIGURATION", "BUSINESS"),
    111006: _row("AUTHORIZATION", "FIX_REQUEST", "PLATFORM"),  # wrong method/endpoint
    111007: _row("AUTHORIZATION", "FIX_CONFIGURATION", "BUSINESS"),  # Data Use Checkup
    111008: _row("AUTHORIZATION", "CONTACT_SUPPORT", "PROVIDER_SUPPORT"),
    111009: _row("AUTHORIZATION", "FIX_CONFIGURATION", "BUSINESS"),  # invalid/expired token
    # Business account.
    131031: _row("BUSINESS_ACCOUNT", "CONTACT_SUPPORT", "PROVIDER_SUPPORT"),  # account locked
    131047: _row("BUSINESS_ACCOUNT", "RESEND_AS_TEMPLATE", "BUSINESS"),  # 24 h window closed
    # Meta: wait at least 24 h, resend once; repeated retries draw account enforcement.
    131049: _row("BUSINESS_ACCOUNT", "RETRY_AFTER", "BUSINESS"),
    131050: _row("BUSINESS_ACCOUNT", "DO_NOT_RETRY", "RECIPIENT"),  # opted out
    131057: _row("BUSINESS_ACCOUNT", "RETRY_AFTER", "PLATFORM"),  # maintenance mode
    # Network: transient by nature; "create another broadcast" is a retry.
    113001: _row("NETWORK", "RETRY_WITH_BACKOFF", "PLATFORM"),
    113003: _row("NETWORK", "RETRY_WITH_BACKOFF", "PLATFORM"),
    113004: _row("NETWORK", "RETRY_WITH_BACKOFF", "PLATFORM"),
    # Other: "try again later" is a backoff retry; missing parameters and bad media are fixes.
    114001: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),
    131008: _row("OTHER", "FIX_REQUEST", "PLATFORM"),
    114002: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),
    114003: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),
    114004: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),
    114005: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),
    114006: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),  # pending too long: send again
    131053: _row("OTHER", "FIX_REQUEST", "BUSINESS"),  # the business's media file
    75: _row("OTHER", "RETRY_WITH_BACKOFF", "PLATFORM"),  # internal server error
    # Quota (115006 is listed again under Subscription; its first listing is primary).
    **{code: _row("QUOTA", "TOP_UP_QUOTA", "BUSINESS") for code in range(115001, 115006)},
    115006: _row("QUOTA", "RENEW_BILLING", "BUSINESS"),
    # Rate limits: wait, then send again; spam and daily limits need the business to slow down.
    130429: _row("RATE_LIMIT", "RETRY_AFTER", "PLATFORM"),
    131048: _row("RATE_LIMIT", "RETRY_AFTER", "BUSINESS"),
    # Meta: a pair rate limit (1 message per 6 s to one recipient), retry in seconds.
    131056: _row("RATE_LIMIT", "RETRY_WITH_BACKOFF", "PLATFORM"),
    133016: _row("RATE_LIMIT", "RETRY_AFTER", "BUSINESS"),
    116001: _row("RATE_LIMIT", "RETRY_AFTER", "PLATFORM"),
    116002: _row("RATE_LIMIT", "RETRY_AFTER", "PLATFORM"),
    116003: _row("RATE_LIMIT", "RETRY_AFTER", "PLATFORM"),
    # Recipient: a wrong number is fixed in the contact list; a device or app version that
    # cannot receive, or an experiment, will fail the same way again.
    117001: _row("RECIPIENT", "FIX_RECIPIENT", "BUSINESS"),
    117002: _row("RECIPIENT", "FIX_RECIPIENT", "BUSINESS"),
    117003: _row("RECIPIENT", "FIX_RECIPIENT", "BUSINESS"),
    117004: _row("RECIPIENT", "FIX_RECIPIENT", "BUSINESS"),
    117005: _row("RECIPIENT", "CONTACT_SUPPORT", "PROVIDER_SUPPORT"),  # "Contact OCA Helpdesk"
    117006: _row("RECIPIENT", "DO_NOT_RETRY", "RECIPIENT"),
    117007: _row("RECIPIENT", "DO_NOT_RETRY", "RECIPIENT"),
    130472: _row("RECIPIENT", "DO_NOT_RETRY", "BUSINESS"),  # "cannot be resent": other channel
    # System: downtime and overload pass.
    118001: _row("SYSTEM", "RETRY_WITH_BACKOFF", "PLATFORM"),
    118002: _row("SYSTEM", "RETRY_WITH_BACKOFF", "PLATFORM"),
    118003: _row("SYSTEM", "RETRY_WITH_BACKOFF", "PLATFORM"),
    118004: _row("SYSTEM", "RETRY_WITH_BACKOFF", "PLATFORM"),
    # Template: always the business's template to fix.
    **{
        code: _row("TEMPLATE", "FIX_TEMPLATE", "BUSINESS")
        for code in (132000, 132001, 132005, 132012, 132015, 119001, 119002, 119003, 119004)
    },
    # Validation: the request is wrong; a sender is set-up; an unknown operator is the desk's.
    # Meta: an unknown error; try again, a support ticket if it persists.
    131000: _row("VALIDATION", "RETRY_WITH_BACKOFF", "PLATFORM"),
    131009: _row("VALIDATION", "FIX_REQUEST", "PLATFORM"),
    121001: _row("VALIDATION", "FIX_REQUEST", "PLATFORM"),
    121002: _row("VALIDATION", "FIX_CONFIGURATION", "BUSINESS"),
    121003: _row("VALIDATION", "CONTACT_SUPPORT", "PROVIDER_SUPPORT"),
    121004: _row("VALIDATION", "FIX_REQUEST", "PLATFORM"),
    121005: _row("VALIDATION", "FIX_REQUEST", "PLATFORM"),
    121006: _row("VALIDATION", "FIX_REQUEST", "PLATFORM"),
}

SEED_CODES = sorted({code for record in RECORDS for code in record.codes})
RANGE_CODES = {code for r in RECORDS if r.first_code != r.last_code for code in r.codes}


def status_webhook(code: int) -> bytes:
    """A realistic failed-status webhook carrying `code`, as Meta sends it."""
    return orjson.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550000000",
                                    "phone_number_id": "106540352242922",
                                },
                                "statuses": [
                                    {
                                        "id": f"wamid.TABLE{code}",
                                        "status": "failed",
                                        "timestamp": "1764000000",
                                        "recipient_id": "6281234567890",
                                        "errors": [
                                            {
                                                "code": code,
                                                "title": "Failure",
                                                "error_data": {"details": "See the code."},
                                            }
                                        ],
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )


def check(found: pb.Classification, code: int) -> None:
    """The classification carries the table's decision for `code`, from the document."""
    expected = TABLE[code]
    info = found.error_info
    assert info.code == code
    assert pb.Category.Name(info.category) == f"CATEGORY_{expected.category}"
    assert pb.RetryStrategy.Name(info.retry_strategy) == f"RETRY_STRATEGY_{expected.strategy}"
    assert info.retryable is expected.retryable
    assert pb.Actor.Name(info.actor) == f"ACTOR_{expected.actor}"
    assert info.source == pb.SOURCE_PROVIDER_DOCUMENT
    assert found.confidence == pytest.approx(1.0)
    kind = pb.MATCH_KIND_CODE_RANGE if code in RANGE_CODES else pb.MATCH_KIND_EXACT_CODE
    assert found.match_kind == kind
    if expected.retryable:  # a retry hint a caller can schedule on
        assert info.retry_after.seconds > 0
    else:
        assert info.retry_after.seconds == 0


def test_the_table_covers_exactly_the_document() -> None:
    assert len(SEED_CODES) == 68
    assert set(TABLE) == set(SEED_CODES)


def test_the_table_agrees_with_the_document_categories() -> None:
    for record in RECORDS:
        category = record.category.removesuffix(" Errors").upper().replace(" ", "_")
        for code in record.codes:
            if record.code_text == "115006" and category == "SUBSCRIPTION":
                continue  # listed twice; the Quota listing is the primary one
            assert TABLE[code].category == category, code


@pytest.mark.parametrize("code", SEED_CODES)
def test_bare_code(stub: pb_grpc.ErrorCatalogServiceStub, code: int) -> None:
    reply = stub.Classify(pb.ClassifyRequest(code=code), timeout=5)
    [found] = reply.classifications
    check(found, code)
    assert found.context.original_code == code


@pytest.mark.parametrize("code", SEED_CODES)
def test_in_a_status_webhook(stub: pb_grpc.ErrorCatalogServiceStub, code: int) -> None:
    reply = stub.Classify(pb.ClassifyRequest(payload=status_webhook(code)), timeout=5)
    [found] = reply.classifications
    check(found, code)
    context = found.context
    assert context.message_id == f"wamid.TABLE{code}"
    assert context.recipient_id == "6281234567890"
    assert context.status == "failed"
    assert context.timestamp == "1764000000"
    assert context.phone_number_id == "106540352242922"
    assert context.business_account_id == "102290129340398"
    assert context.original_code == code
    assert context.details == "See the code."


def test_115006_keeps_its_subscription_listing(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    [found] = stub.Classify(pb.ClassifyRequest(code=115006), timeout=5).classifications
    assert [listing.category for listing in found.error_info.other_listings] == [
        pb.CATEGORY_SUBSCRIPTION
    ]


def test_every_seed_code_in_one_webhook_keeps_payload_order(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    """All 68 codes as 68 statuses of one webhook: 68 decisions, in the payload's order."""
    document = orjson.loads(status_webhook(0))
    value = document["entry"][0]["changes"][0]["value"]
    template = value["statuses"][0]
    value["statuses"] = [
        {**template, "id": f"wamid.{code}", "errors": [{"code": str(code)}]} for code in SEED_CODES
    ]
    reply = stub.Classify(pb.ClassifyRequest(payload=orjson.dumps(document)), timeout=5)
    assert [c.error_info.code for c in reply.classifications] == SEED_CODES
    for found, code in zip(reply.classifications, SEED_CODES, strict=True):
        check(found, code)
        assert found.context.message_id == f"wamid.{code}"
