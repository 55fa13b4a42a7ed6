"""The benchmark's inputs and its in-process baselines.

Every scenario, on every server, sends the same deterministic mix of webhook
bodies, so numbers from different runs and servers compare. The baselines
classify the same bytes in one process the way a caller would without the
service: parse with a JSON library, walk to the errors, look the code up in a
dict.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

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


def _error(rng: random.Random, code: int) -> dict[str, Any]:
    return {
        "code": code,
        "title": f"Error {code}",
        "message": f"Message failed with error {code}",
        "error_data": {"details": "The message could not be delivered; see the error code."},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def _status(rng: random.Random, state: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
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


def _webhook(rng: random.Random, value: dict[str, Any]) -> dict[str, Any]:
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
            body = _webhook(rng, {"statuses": [_status(rng, "failed", [_error(rng, code)])]})
        elif shape == "two":
            other = rng.choice(codes)
            body = _webhook(
                rng,
                {
                    "statuses": [
                        _status(rng, "failed", [_error(rng, code)]),
                        _status(rng, "failed", [_error(rng, other)]),
                    ]
                },
            )
        elif shape == "delivered":
            body = _webhook(rng, {"statuses": [_status(rng, "delivered", [])]})
        elif shape == "message":
            body = _webhook(
                rng,
                {
                    "messages": [
                        {
                            "from": f"62812{rng.randrange(10**8):08d}",
                            "id": f"wamid.{rng.getrandbits(64):016X}",
                            "timestamp": "1764000000",
                            "type": "unsupported",
                            "errors": [_error(rng, code)],
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
            body = _webhook(rng, {"statuses": [_status(rng, "failed", [_error(rng, unknown)])]})
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


# ---- requests --------------------------------------------------------------------


def bare_code_request() -> bytes:
    """A serialised ClassifyRequest carrying only a code."""
    return pb.ClassifyRequest(code=BARE_CODE).SerializeToString()


def webhook_request(payloads: Sequence[bytes]) -> bytes:
    """A serialised ClassifyRequest carrying the first failed-status webhook."""
    failed = next(p for p in payloads if b'"failed"' in p and b'"statuses"' in p)
    return pb.ClassifyRequest(payload=failed).SerializeToString()


def stream_requests(payloads: Sequence[bytes], batch: int, count: int = 8) -> list[bytes]:
    """`count` serialised ClassifyStreamRequests of `batch` items, cycling the payloads."""
    out = []
    index = 0
    for _ in range(count):
        items = []
        for i in range(batch):
            items.append(pb.ClassifyItem(id=str(i), payload=payloads[index % len(payloads)]))
            index += 1
        out.append(pb.ClassifyStreamRequest(items=items).SerializeToString())
    return out


# ---- in-process baselines ---------------------------------------------------------


def lookup_table() -> dict[int, dict[str, Any]]:
    """What a caller without the service keeps: code -> its catalog facts."""
    catalog = load_catalog(EMBEDDED_CATALOG)
    table: dict[int, dict[str, Any]] = {}
    for code, entries in catalog.listings.items():
        entry = entries[0]
        table[code] = {
            "code": code,
            "category": entry.category,
            "reason": entry.reason,
            "retryable": entry.retryable,
            "retry_strategy": entry.retry_strategy,
        }
    return table


_UNKNOWN: dict[str, Any] = {"code": 0, "category": pb.CATEGORY_UNKNOWN, "retryable": False}


def classify_with(
    parse: Callable[[bytes], Any], table: dict[int, dict[str, Any]]
) -> Callable[[bytes], list[dict[str, Any]]]:
    """The caller's own classifier: parse, walk to every error, look the code up."""

    def look(error: Any) -> dict[str, Any]:
        code = error.get("code") if isinstance(error, dict) else error
        return table.get(int(code), _UNKNOWN) if code is not None else _UNKNOWN

    def classify(payload: bytes) -> list[dict[str, Any]]:
        doc = parse(payload)
        found: list[dict[str, Any]] = []
        if "entry" in doc:
            for entry in doc["entry"]:
                for change in entry.get("changes", ()):
                    value = change.get("value") or {}
                    for status in value.get("statuses", ()):
                        errors = status.get("errors")
                        if errors:
                            found.extend(look(error) for error in errors)
                        elif status.get("status") == "failed":
                            found.append(_UNKNOWN)
                    for message in value.get("messages", ()):
                        found.extend(look(error) for error in message.get("errors", ()))
                    found.extend(look(error) for error in value.get("errors", ()))
        elif "error" in doc:
            found.append(look(doc["error"]))
        else:
            found.append(look(doc))
        return found

    return classify


def service_classifier() -> Callable[[bytes], list[pb.Classification]]:
    """The service's own classifier, in process: the server's CPU floor per item."""
    from server.classifier import Classifier, to_message

    classifier = Classifier(load_catalog(EMBEDDED_CATALOG))

    def classify(payload: bytes) -> list[pb.Classification]:
        return [to_message(d) for d in classifier.classify_payload(payload)]

    return classify


def time_in_process(
    classify: Callable[[bytes], object], payloads: Sequence[bytes], seconds: float
) -> dict[str, float]:
    """Items/s and per-item latency percentiles of `classify` over `payloads`."""
    for payload in payloads[:200]:  # warm caches
        classify(payload)
    samples: list[int] = []
    count = 0
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(seconds * 1e9)
    while True:
        for payload in payloads:
            t0 = clock()
            classify(payload)
            samples.append(clock() - t0)
        count += len(payloads)
        if clock() >= deadline:
            break
    elapsed = (clock() - start) / 1e9
    samples.sort()
    return {
        "items_per_s": count / elapsed,
        "p50_ms": samples[len(samples) // 2] / 1e6,
        "p99_ms": samples[int(len(samples) * 0.99)] / 1e6,
        "seconds": elapsed,
    }


PARSERS: dict[str, Callable[[bytes], Any]] = {"stdlib json": json.loads, "orjson": orjson.loads}
