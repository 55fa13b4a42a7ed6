"""The benchmark's inputs and its in-process baselines.

Every scenario, on every server, sends the same deterministic mix of webhook
bodies, so numbers from different runs and servers compare. The baselines
classify the same bytes in one process the way a caller would without the
service: parse with a JSON library, walk to the errors, look the code up in a
dict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from server.catalog import EMBEDDED_CATALOG, load_catalog
from tests.support.webhooks import (
    BARE_CODE,
)
from tests.support.webhooks import SEED as SEED
from tests.support.webhooks import UNKNOWN_CODES as UNKNOWN_CODES
from tests.support.webhooks import Mix as Mix
from tests.support.webhooks import catalog_codes as catalog_codes
from tests.support.webhooks import mixed_payloads as mixed_payloads
from whatsapp.errors.v1 import error_catalog_pb2 as pb

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
    from server.classify.classifier import Classifier
    from tests.support.oracle import to_message

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
