"""Deterministic webhook bodies in a realistic mix, for tests and the benchmark.

Every body is compact JSON as Meta sends it: failed and delivered statuses,
inbound message errors, Graph API errors and unlisted codes, with codes drawn
from the embedded catalog. The same seed gives the same bytes, so a test's
oracle and the benchmark's workload compare run to run.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog

SEED = 20261125
BARE_CODE = 131047
"""The code of the unary bare-code scenario (a provider-document entry)."""
UNKNOWN_CODES = (131999, 132999, 999_001)
"""Unlisted codes (two in a family, one in none) so the slow paths are exercised."""


@dataclass(frozen=True, slots=True)
class Mix:
    """The shares of each body shape in the mixed workload (they sum to 100)."""

    failed_status: int = 60
    two_failed_statuses: int = 5
    delivered_status: int = 15
    message_errors: int = 5
    graph_api_error: int = 10
    unknown_code: int = 5


def catalog_codes() -> list[int]:
    """Every code the embedded catalog lists, in order."""
    return sorted(load_catalog(EMBEDDED_CATALOG).listings)


def error_object(rng: random.Random, code: int) -> dict[str, Any]:
    return {
        "code": code,
        "title": f"Error {code}",
        "message": f"Message failed with error {code}",
        "error_data": {"details": "The message could not be delivered; see the error code."},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def status_object(rng: random.Random, state: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": f"wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEj{rng.getrandbits(64):016X}AA==",
        "status": state,
        "timestamp": str(1_764_000_000 + rng.randrange(86_400)),
        "recipient_id": f"62812{rng.randrange(10**8):08d}",
        "conversation": {"id": f"{rng.getrandbits(64):016x}", "origin": {"type": "utility"}},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "utility"},
    }
    if errors:
        status["errors"] = errors
    return status


def webhook_envelope(rng: random.Random, value: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": "106540352242922"},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def mixed_payloads(count: int, seed: int = SEED, mix: Mix | None = None) -> list[bytes]:
    """`count` JSON bodies in the benchmark's mix, compact as Meta sends them."""
    mix = mix or Mix()
    rng = random.Random(seed)
    codes = catalog_codes()
    shapes = (
        ["failed"] * mix.failed_status
        + ["two"] * mix.two_failed_statuses
        + ["delivered"] * mix.delivered_status
        + ["message"] * mix.message_errors
        + ["graph"] * mix.graph_api_error
        + ["unknown"] * mix.unknown_code
    )
    out: list[bytes] = []
    for _ in range(count):
        shape = rng.choice(shapes)
        code = rng.choice(codes)
        body: dict[str, Any]
        if shape == "failed":
            body = webhook_envelope(
                rng, {"statuses": [status_object(rng, "failed", [error_object(rng, code)])]}
            )
        elif shape == "two":
            other = rng.choice(codes)
            body = webhook_envelope(
                rng,
                {
                    "statuses": [
                        status_object(rng, "failed", [error_object(rng, code)]),
                        status_object(rng, "failed", [error_object(rng, other)]),
                    ]
                },
            )
        elif shape == "delivered":
            body = webhook_envelope(rng, {"statuses": [status_object(rng, "delivered", [])]})
        elif shape == "message":
            body = webhook_envelope(
                rng,
                {
                    "messages": [
                        {
                            "from": f"62812{rng.randrange(10**8):08d}",
                            "id": f"wamid.{rng.getrandbits(64):016X}",
                            "timestamp": "1764000000",
                            "type": "unsupported",
                            "errors": [error_object(rng, code)],
                        }
                    ]
                },
            )
        elif shape == "graph":
            body = {
                "error": {
                    "message": f"(#{code}) Message failed",
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": "See the code."},
                    "fbtrace_id": f"A{rng.getrandbits(64):016x}",
                }
            }
        else:
            unknown = rng.choice(UNKNOWN_CODES)
            body = webhook_envelope(
                rng, {"statuses": [status_object(rng, "failed", [error_object(rng, unknown)])]}
            )
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out
