"""Hypothesis strategies for classifier inputs: random, garbled and webhook-shaped.

Shared by the property tests (through a real server) and the fuzzer (in
process), so both explore the same space: any JSON value, corpus bodies
with bytes flipped, dropped or cut, webhooks whose every field may take an
odd form, random texts, codes and structured errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MAX_CODE = 2**63 - 1

KEYS = (
    "entry changes value statuses messages errors error code error_code errorCode "
    "error_subcode title message details detail error_data href fbtrace_id type "
    "is_transient http_status status_code status recipient_id id timestamp metadata "
    "phone_number_id error_user_title error_user_msg reason description "
    "ErrorCode ErrorMessage MessageStatus failedCode failedDetail whatsappApiError "
    "whatsappMessage results failure meta developerMessage httpCode body data json raw_body "
    "statusCode headers instance more_info payload"
).split()
"""Keys the readers look for, so random objects often hit real branches."""
CODE_KEYS = ("code", "error_code", "errorCode", "ErrorCode", "failedCode", "error_subcode")
EXTRA_KEYS = tuple(k for k in KEYS if k not in CODE_KEYS)


def corpus_bodies() -> list[bytes]:
    """Every JSON body of the corpus, compact, as realistic seeds for garbling."""
    bodies: list[bytes] = []
    for path in sorted(CORPUS.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            given = case["input"]
            if "payload" in given:
                bodies.append(orjson.dumps(given["payload"]))
            elif "json" in given:
                bodies.append(orjson.dumps(given["json"]))
    return bodies


BODIES = corpus_bodies()

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
"""Any text protobuf can carry (no lone surrogates: they are not UTF-8)."""

error_words = st.sampled_from(
    [
        "cURL error 28: Operation timed out after 30001 milliseconds",
        "read ECONNRESET",
        "Invalid response code (502)",
        "Invalid response code (429)",
        "Template Paused",
        "(#132001) Template name does not exist in the translation",
        "Re-engagement message",
        "Rate limit hit",
        "Message Undeliverable.",
        "Insufficient Quota",
    ]
)
log_texts = st.one_of(
    st.builds(
        lambda c, t: f"send failed: {{'error': {{'code': {c}, 'message': {t!r}}}}}",
        st.integers(0, 10**7),
        text,
    ),
    st.builds(
        lambda c: f'WARN {{"error": {{"code": {c}, "type": "OAuthException"}}}} x',
        st.integers(0, 10**7),
    ),
    st.builds(
        lambda c, s: f"{{ error: {{ code: {c}, error_data: [Object] }} }} {s}",
        st.integers(0, 10**7),
        text,
    ),
    st.builds(
        lambda c, s: f"code={c} error_subcode={s}", st.integers(0, 10**7), st.integers(0, 10**7)
    ),
    st.builds(lambda a, b: "{" * a + "'code': " + "(#" * b, st.integers(0, 30), st.integers(0, 30)),
)
"""Log lines with codes written in them: dict and object dumps, JSON fragments, key=value."""
texts = st.one_of(text, error_words, log_texts, st.builds(lambda a, b: a + b, error_words, text))

codes = st.one_of(
    st.integers(0, 200),
    st.integers(100_000, 140_000),
    st.integers(2_494_000, 2_495_000),
    st.integers(0, MAX_CODE),
)
"""Non-negative int64 codes, weighted toward the ranges real codes live in."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    codes,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), text), inner, max_size=5),
    ),
    max_leaves=30,
)
"""Any JSON value (finite numbers: JSON has no others), keys biased to the readers' keys."""


def dumps(value: Any) -> bytes:
    """JSON bytes for any generated value (stdlib: integers of any size)."""
    return json.dumps(value).encode()


code_forms = st.one_of(
    codes,
    codes.map(str),
    codes.map(lambda c: f" {c} "),
    st.integers(0, 2**53).map(float),
    st.none(),
)
"""The forms a valid code arrives in: int, digit string (maybe padded), integral float, absent."""


def _is_code_text(text: str) -> bool:
    """Whether the readers take `text` as a code: digits (maybe signed) or a BSP code name."""
    text = text.strip()
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits.isascii() and digits.isdigit():
        return True
    return (
        0 < len(text) <= 64
        and text.isascii()
        and text[0].isalpha()
        and all(c.isalnum() or c in "_-.:" for c in text)
    )


symbolic_code_forms = st.one_of(
    st.sampled_from(["TOO_MANY_REQUESTS", "BALANCE_INSUFFICIENT", "E400", "not-found", "WA429"]),
    st.integers(-(2**63) + 1, -1),
    st.integers(-(2**63) + 1, -1).map(str),
)
"""Codes a BSP sends that are not WhatsApp numbers: kept as the symbolic code, never refused."""

bad_code_forms = st.one_of(
    st.integers(max_value=-(2**63)),
    st.integers(min_value=MAX_CODE + 1, max_value=2**80),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(min_size=1, max_size=8).filter(lambda t: t.strip() != "" and not _is_code_text(t)),
    st.lists(st.integers(), max_size=2),
)
"""Forms a reader must refuse with INVALID_ARGUMENT naming the field."""


@st.composite
def error_items(draw: st.DrawFn) -> dict[str, Any]:
    """One error object with a valid code form and any mix of the other fields."""
    item: dict[str, Any] = {}
    if draw(st.booleans()):
        item[draw(st.sampled_from(("code", "error_code", "errorCode")))] = draw(code_forms)
    if draw(st.booleans()):
        item["error_subcode"] = draw(code_forms)
    for key in ("title", "message", "href", "fbtrace_id", "type"):
        if draw(st.booleans()):
            item[key] = draw(st.one_of(texts, st.integers(), st.none()))
    data = draw(
        st.one_of(
            st.none(),
            texts,
            st.fixed_dictionaries({"details": texts}),
            st.dictionaries(st.sampled_from(KEYS), json_scalars, max_size=3),
            st.integers(),
        )
    )
    if data is not None:
        item["error_data"] = data
    if draw(st.booleans()):
        item["is_transient"] = draw(st.one_of(st.booleans(), st.sampled_from(["true", "FALSE"])))
    if draw(st.booleans()):
        item["http_status"] = draw(st.integers(0, 1000))
    if draw(st.booleans()):  # an extra field (never a code: those are drawn above)
        item[draw(st.sampled_from(EXTRA_KEYS))] = draw(json_scalars)
    return item


@st.composite
def statuses(draw: st.DrawFn) -> dict[str, Any]:
    """A status with an id, a state and maybe errors (possibly null or empty)."""
    status: dict[str, Any] = {
        "id": f"wamid.{draw(st.integers(0, 10**9))}",
        "status": draw(st.sampled_from(["failed", "delivered", "read", "sent", "FAILED", ""])),
        "recipient_id": draw(st.sampled_from(["6281234567890", "15551234567", 447700900123])),
        "timestamp": draw(st.sampled_from(["1764000000", 1764000000])),
    }
    errors = draw(st.one_of(st.none(), st.lists(error_items(), max_size=3)))
    if errors is not None or draw(st.booleans()):
        status["errors"] = errors
    return status


def expected_count(status: dict[str, Any]) -> int:
    """How many decisions a status must give: one per error, or one for a bare failure."""
    errors = status.get("errors") or []
    if errors:
        return len(errors)
    return 1 if str(status["status"]).lower() == "failed" else 0


@st.composite
def webhooks(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A status webhook of several entries and changes, with each expected decision's wamid."""
    expected: list[str] = []
    entries = []
    for i in range(draw(st.integers(1, 3))):
        changes = []
        for _ in range(draw(st.integers(0, 3))):
            items = draw(st.lists(statuses(), max_size=4))
            for status in items:
                expected += [status["id"]] * expected_count(status)
            value: dict[str, Any] = {"messaging_product": "whatsapp", "statuses": items}
            if draw(st.booleans()):
                value["metadata"] = {"phone_number_id": "106540352242922"}
            changes.append({"field": "messages", "value": value})
        entries.append({"id": str(i), "changes": changes})
    return {"object": "whatsapp_business_account", "entry": entries}, expected


@st.composite
def garbled(draw: st.DrawFn) -> bytes:
    """A corpus body with bytes dropped, replaced, inserted, or the tail cut off."""
    body = bytearray(draw(st.sampled_from(BODIES)))
    for _ in range(draw(st.integers(1, 6))):
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["drop", "replace", "insert", "cut", "swap"]))
        byte = draw(st.sampled_from(list(b'{}[]",:0123456789-.eEtfn\\ \x00\xff\xc3')))
        if action == "drop":
            del body[at]
        elif action == "replace":
            body[at] = byte
        elif action == "insert":
            body.insert(at, byte)
        elif action == "cut":
            del body[at:]
        else:
            other = draw(st.integers(0, len(body) - 1))
            body[at], body[other] = body[other], body[at]
    return bytes(body)


_any_code = st.one_of(code_forms, symbolic_code_forms)
_meta_error = st.fixed_dictionaries(
    {"code": _any_code}, optional={"message": texts, "error_subcode": code_forms}
)


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """A BSP or tool body of every documented family, fields in any odd form."""
    status = draw(st.sampled_from(["failed", "delivered", "undelivered", "rejected", ""]))
    bodies = [
        {"error": {"status": 429, "code": draw(_any_code), "whatsappApiError": draw(_meta_error)}},
        {"whatsappMessage": {"wamid": "w", "status": status, "errorCode": draw(_any_code)}},
        {"whatsappInboundMessage": {"errors": draw(st.lists(_meta_error, max_size=2))}},
        {"MessageStatus": status, "ErrorCode": draw(_any_code), "MessageSid": "SM"},
        {"type": "message-event", "payload": {"type": status, "payload": draw(_meta_error)}},
        {"results": [{"messageId": "m", "error": {"id": draw(st.integers(0, 9999)), "name": "N"}}]},
        {
            "failure": {
                "code": draw(_any_code),
                "source": {"name": "whatsapp", "code": draw(_any_code)},
            }
        },
        {"failedCode": draw(_any_code), "failedDetail": draw(texts), "statusString": status},
        {
            "meta": {
                "success": False,
                "httpCode": draw(st.integers(0, 700)),
                "developerMessage": draw(texts),
            }
        },
        {
            "message_uuid": "u",
            "status": status,
            "error": {"type": f"https://x/e#{draw(text)}", "title": "t"},
        },
        {"errors": draw(st.lists(_meta_error, max_size=3)), "meta": {"api_status": "stable"}},
        {"details": draw(texts)},
    ]
    body = draw(st.sampled_from(bodies))
    wrap = draw(st.sampled_from(["none", "body", "json", "array", "string", "deep"]))
    if wrap == "body":
        headers = {
            "retry-after": draw(st.sampled_from(["5", "soon", "Wed, 21 Oct 2037 07:28:00 GMT"]))
        }
        return {"statusCode": draw(st.integers(0, 700)), "headers": headers, "body": body}
    if wrap == "json":
        return [{"json": body}]
    if wrap == "array":
        return [body, draw(json_values)]
    if wrap == "string":
        return {"raw_body": json.dumps(body)}
    if wrap == "deep":
        return {"event": "e", "data": {"inner": body}}
    return body


payloads = st.one_of(
    json_values.map(dumps),
    garbled(),
    st.binary(max_size=200),
    webhooks().map(lambda pair: dumps(pair[0])),
    envelopes().map(dumps),
)
"""Anything a caller might put in `payload`."""

transports = st.builds(
    lambda status, headers: {"http_status": status, "headers": headers},
    st.one_of(st.just(0), st.integers(100, 599), st.integers(-5, 1000)),
    st.dictionaries(
        st.sampled_from(["Retry-After", "X-App-Usage", "X-Business-Use-Case-Usage", "x"]),
        st.one_of(
            text,
            st.sampled_from(
                [
                    "30",
                    "Wed, 21 Oct 2037 07:28:00 GMT",
                    '{"call_count": 1, "estimated_time_to_regain_access": 5}',
                    '{"1": [{"estimated_time_to_regain_access": 2}]}',
                ]
            ),
        ),
        max_size=3,
    ),
)
"""A request's Transport as keyword arguments: any status, odd and real headers."""
