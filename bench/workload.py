"""The benchmark's inputs, the oracle that checks answers, and the in-process baselines.

Every scenario, on every server, sends the same deterministic webhook bodies,
so numbers from different runs and servers compare: the throughput targets
use 200,000 failed-status webhooks (`failed_status_payloads`), the memory
run the mixed workload (`mixed_payloads`, every reader path). The baselines
classify the same bytes in one process the way a caller would without the
service: pywa (`WhatsAppError.from_dict` on each error, after the
`json.loads` pywa itself does), or a JSON library, a walk to the errors and a
dict lookup. Every baseline answer is checked against `expected_codes`, as
the load generator checks the service's.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from bench.answers import WrongAnswerError
from tests.support.webhooks import (
    BARE_CODE,
)
from tests.support.webhooks import SEED as SEED
from tests.support.webhooks import UNKNOWN_CODES as UNKNOWN_CODES
from tests.support.webhooks import Mix as Mix
from tests.support.webhooks import catalog_codes as catalog_codes
from tests.support.webhooks import mixed_payloads as mixed_payloads
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.v1 import error_catalog_pb2 as pb

if TYPE_CHECKING:
    from whatsapp_errors.server.classify.decide import Decision

# ---- bodies ----------------------------------------------------------------------

FAILED_STATUSES = Mix(
    failed_status=100,
    two_failed_statuses=0,
    delivered_status=0,
    message_errors=0,
    graph_api_error=0,
    unknown_code=0,
)
"""Only failed-status webhooks, one error each, codes drawn from the catalog."""
BASELINE_WEBHOOKS = 200_000
"""How many distinct failed-status webhooks the throughput targets send and pywa parses."""


@functools.cache
def failed_status_payloads(count: int = BASELINE_WEBHOOKS) -> tuple[bytes, ...]:
    """`count` failed-status webhooks (fixed seed), the bodies of the throughput targets."""
    return tuple(mixed_payloads(count, mix=FAILED_STATUSES))


def payloads(bodies: str, count: int) -> Sequence[bytes]:
    """The first `count` bodies of a kind: "failed" (failed statuses) or "mixed"."""
    if bodies == "failed":  # the first k of n bodies are the k bodies: one seeded sequence
        return failed_status_payloads(count)
    if bodies == "mixed":
        return mixed_payloads(count)
    raise ValueError(f"no bodies named {bodies!r}")


Codes = tuple[int, ...]
"""The code of every error one body holds, in body order: what every answer is checked against."""


def expected_codes(payload: bytes) -> Codes:
    """The oracle: every error's code in a body of `mixed_payloads`, read with orjson.

    Independent of the readers under test. It knows only the shapes the
    generator writes (tests/support/webhooks.py) and raises on any other, so it
    cannot answer wrongly in silence.
    """
    doc = orjson.loads(payload)
    if "error" in doc:
        return (int(doc["error"]["code"]),)
    codes: list[int] = []
    for entry in doc["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            for status in value.get("statuses", ()):
                codes.extend(int(error["code"]) for error in status.get("errors", ()))
            for message in value.get("messages", ()):
                codes.extend(int(error["code"]) for error in message["errors"])
            if set(value) - {"messaging_product", "metadata", "statuses", "messages"}:
                raise ValueError(f"the oracle does not know this value: {sorted(value)}")
    return tuple(codes)


# ---- requests --------------------------------------------------------------------


def bare_code_request() -> bytes:
    """A serialised ClassifyRequest carrying only a code."""
    return pb.ClassifyRequest(code=BARE_CODE).SerializeToString()


def webhook_request(payloads: Sequence[bytes]) -> bytes:
    """A serialised ClassifyRequest carrying the first failed-status webhook."""
    failed = next(p for p in payloads if b'"failed"' in p and b'"statuses"' in p)
    return pb.ClassifyRequest(payload=failed).SerializeToString()


def stream_requests(payloads: Sequence[bytes], batch: int, count: int = 8) -> list[bytes]:
    """`count` serialised ClassifyStreamRequests of `batch` items, cycling the payloads.

    Item `i` of a request has the id `str(i)`; the payloads follow each other
    across requests, so `count * batch` items send that many bodies.
    """
    out = []
    index = 0
    for _ in range(count):
        items = []
        for i in range(batch):
            items.append(pb.ClassifyItem(id=str(i), payload=payloads[index % len(payloads)]))
            index += 1
        out.append(pb.ClassifyStreamRequest(items=items).SerializeToString())
    return out


def stream_expected(payloads: Sequence[bytes], batch: int, count: int = 8) -> list[list[Codes]]:
    """Per request of `stream_requests(payloads, batch, count)`, each item's expected codes."""
    codes = [expected_codes(payload) for payload in payloads]
    return [[codes[(r * batch + i) % len(payloads)] for i in range(batch)] for r in range(count)]


@functools.cache
def request_set(bodies: str, distinct: int, batch: int) -> tuple[list[bytes], list[list[Codes]]]:
    """The stream requests that send `distinct` bodies of a kind in batches, and their codes.

    As many requests as it takes to send every body once (at least two); the
    load generator cycles through them.
    """
    sent = payloads(bodies, distinct)
    count = max(2, -(-len(sent) // batch))
    return stream_requests(sent, batch, count), stream_expected(sent, batch, count)


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


Classify = Callable[[bytes], Any]
"""One body in, the caller's answer out."""
CodesOf = Callable[[Any], Codes]
"""The codes an answer gives, in order: checked against `expected_codes` of its body."""


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


def lookup_codes(table: dict[int, dict[str, Any]]) -> Callable[[bytes], Codes]:
    """What `classify_with` must answer for a body: each code when listed, else 0 (unknown)."""

    def codes(payload: bytes) -> Codes:
        return tuple(code if code in table else 0 for code in expected_codes(payload))

    return codes


def _dict_codes(found: list[dict[str, Any]]) -> Codes:
    return tuple(int(entry["code"]) for entry in found)


def pywa_classifier() -> Classify:
    """What a pywa user does with a webhook body: pywa's own parse, `from_dict` on each error.

    pywa's webhook handler reads a body with `json.loads` (its `RawUpdate`)
    and builds each error with `WhatsAppError.from_dict` (its
    `MessageStatus.from_update`, `Message.from_update`; a Graph API error
    body through `WhatsAppError.from_dict` in its API client). The result is
    pywa's typed error: the subclass for a code pywa knows, else
    `WhatsAppError` itself, with the code, message, details and the rest.
    """
    from pywa.errors import WhatsAppError

    from_dict = WhatsAppError.from_dict

    def classify(payload: bytes) -> list[WhatsAppError]:
        update = json.loads(payload)
        found: list[WhatsAppError] = []
        if "entry" in update:
            for entry in update["entry"]:
                for change in entry["changes"]:
                    value = change["value"]
                    for status in value.get("statuses", ()):
                        found.extend(from_dict(error) for error in status.get("errors", ()))
                    for message in value.get("messages", ()):
                        found.extend(from_dict(error) for error in message.get("errors", ()))
                    found.extend(from_dict(error) for error in value.get("errors", ()))
        elif "error" in update:
            found.append(from_dict(update["error"]))
        return found

    return classify


def pywa_codes(found: list[Any]) -> Codes:
    """The codes of pywa's answer; -1 for anything that is not a pywa error object."""
    from pywa.errors import WhatsAppError

    return tuple(e.code if isinstance(e, WhatsAppError) else -1 for e in found)


def service_classifier() -> Callable[[bytes], list[Decision]]:
    """The service's own classifier, in process: `Classifier.classify_payload`, its decisions.

    Each decision holds the entry's ErrorInfo, the match kind, the confidence
    and the error's context: everything the service answers, before encoding.
    """
    from whatsapp_errors.server.classify.classifier import Classifier

    return Classifier(load_catalog(EMBEDDED_CATALOG)).classify_payload


def decision_codes(decisions: list[Decision]) -> Codes:
    """The codes of the service's decisions (an unlisted code keeps its own code)."""
    return tuple(decision.info.code for decision in decisions)


def service_messages() -> Callable[[bytes], list[pb.Classification]]:
    """The classifier plus a Classification message per decision (the bench's older row)."""
    from tests.support.oracle import to_message

    classify = service_classifier()

    def messages(payload: bytes) -> list[pb.Classification]:
        return [to_message(d) for d in classify(payload)]

    return messages


def message_codes(found: list[pb.Classification]) -> Codes:
    return tuple(message.error_info.code for message in found)


@dataclass(frozen=True)
class Candidate:
    """An in-process classifier and how to read the codes of its answers."""

    classify: Classify
    codes_of: CodesOf
    expected: Callable[[bytes], Codes] = expected_codes
    """The codes a right answer gives for a body (the dict lookup answers 0 for an unlisted one)."""


def candidates() -> dict[str, Candidate]:
    """Every in-process way to classify a body, by row name."""
    table = lookup_table()
    found: dict[str, Candidate] = {
        "pywa": Candidate(pywa_classifier(), pywa_codes),
        "service classifier": Candidate(service_classifier(), decision_codes),
    }
    for name, parse in PARSERS.items():
        found[f"{name} + dict"] = Candidate(
            classify_with(parse, table), _dict_codes, lookup_codes(table)
        )
    return found


class CheckedRunner:
    """Runs one candidate over bodies, checking every answer, resuming where it stopped.

    Successive calls go on through the bodies in order (wrapping), so a run
    of slices covers them all. A wrong answer raises WrongAnswerError naming
    the body, never a rate.
    """

    def __init__(self, name: str, candidate: Candidate, bodies: Sequence[bytes]) -> None:
        self.name = name
        self.candidate = candidate
        self.bodies = bodies
        self.expected = [candidate.expected(body) for body in bodies]
        self.position = 0
        self.checked = 0

    def run(self, seconds: float, samples: list[int] | None = None) -> dict[str, float]:
        """Webhooks/s over at least `seconds`; per-call ns into `samples` when given."""
        classify, codes_of = self.candidate.classify, self.candidate.codes_of
        bodies, expected = self.bodies, self.expected
        count, size = 0, len(bodies)
        i = self.position
        clock = time.perf_counter_ns
        start = clock()
        deadline = start + int(seconds * 1e9)
        while True:
            for _ in range(256):
                if samples is None:
                    answer = classify(bodies[i])
                else:
                    t0 = clock()
                    answer = classify(bodies[i])
                    samples.append(clock() - t0)
                if codes_of(answer) != expected[i]:
                    raise WrongAnswerError(
                        f"in process, {self.name} answered body {i} with codes "
                        f"{codes_of(answer)}, expected {expected[i]} ({self.checked} good)"
                    )
                self.checked += 1
                i = i + 1 if i + 1 < size else 0
            count += 256
            if clock() >= deadline:
                break
        elapsed = (clock() - start) / 1e9
        self.position = i
        return {"items_per_s": count / elapsed, "seconds": elapsed, "checked": float(count)}


def time_in_process(runner: CheckedRunner, seconds: float) -> dict[str, float]:
    """Items/s and per-item latency percentiles of one candidate, every answer checked."""
    runner.run(min(seconds, 0.2))  # warm caches
    samples: list[int] = []
    measured = runner.run(seconds, samples)
    samples.sort()
    return {
        **measured,
        "p50_ms": samples[len(samples) // 2] / 1e6,
        "p99_ms": samples[int(len(samples) * 0.99)] / 1e6,
    }


PARSERS: dict[str, Callable[[bytes], Any]] = {"stdlib json": json.loads, "orjson": orjson.loads}
