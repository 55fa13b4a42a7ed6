"""Turns any failure a backend received into decisions: what it means, what to do.

Lookup order, from most to least certain: the code, the Graph API subcode
(when the code is the generic 100 or unknown), strong text evidence, the
code's family, weak text evidence, the HTTP status, the `is_transient` hint,
and finally UNKNOWN. An unknown code is never an RPC error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2

from server.catalog import Catalog
from server.catalog.error_infos import MessageCache, family_info, inferred_info
from server.classify.found import FoundError, InputError, RawError, to_found
from server.classify.generic_reader import extract_errors, loads
from server.classify.text_match import STRONG, TextMatcher
from server.classify.webhook_reader import extract_webhook_errors
from whatsapp.errors.v1 import error_catalog_pb2 as pb

GENERIC_CODES = frozenset({1, 2, 100})
"""Graph API codes that only say "see the subcode" when a subcode is present."""

CONF_DOCUMENT = 1.0
CONF_CATALOG = 0.95
CONF_FAMILY = 0.5
CONF_HTTP = 0.7
CONF_TRANSIENT = 0.3
_INFERRED_CACHE_MAX = 4096
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
"""Largest JSON body one input may carry (the proto documents it)."""


@dataclass(slots=True)
class Decision:
    """One classified error: the entry it matched, how, and where it came from.

    Treat as read-only. Not `frozen`: a frozen dataclass sets each field
    through object.__setattr__, about three times the cost of a plain one,
    and a stream item makes one or two.
    """

    info: pb.ErrorInfo
    match_kind: pb.MatchKind.ValueType
    confidence: float
    raw: FoundError


class ClassifierHolder:
    """Holds the classifier in use; a reload swaps it atomically.

    Handlers read `current` once per call (once per stream), so a reload
    never changes the answers of a call already in flight.
    """

    def __init__(self, classifier: Classifier) -> None:
        self.current = classifier
        self.listeners: list[Callable[[Classifier], None]] = []

    def swap(self, classifier: Classifier) -> None:
        """Makes `classifier` answer every call that starts from now on."""
        self.current = classifier
        for listener in self.listeners:
            listener(classifier)


class Classifier:
    """Classifies codes, JSON bodies, texts and structured errors against one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.messages = MessageCache(catalog)
        self.text = TextMatcher(catalog)
        self._inferred: dict[int, pb.ErrorInfo] = {}
        self._codes: dict[int, list[Decision]] = {}
        self._unknown = inferred_info(
            0,
            category=pb.CATEGORY_UNKNOWN,
            reason="Unknown error",
            description="No catalog entry, code family or text rule matches this error.",
            retry_strategy=pb.RETRY_STRATEGY_CONTACT_SUPPORT,
            actor=pb.ACTOR_PROVIDER_SUPPORT,
        )

    @property
    def version(self) -> str:
        """The catalog version every answer names."""
        return self.catalog.version

    # ---- inputs -------------------------------------------------------------

    def classify_code(self, code: int) -> list[Decision]:
        """A bare code: always exactly one decision (shared for listed codes: read-only).

        A listed code's decision never changes for this catalog, so it is made
        once; the servicer's bare-code answer is then a dict hit here and one
        for its bytes in the encoder.
        """
        decisions = self._codes.get(code)
        if decisions is not None:
            return decisions
        if code < 0:
            raise InputError("code", f"a code must not be negative, got {code}")
        decisions = [self.decide(to_found(RawError(code=code)))]
        if code in self.catalog.listings:
            self._codes[code] = decisions
        return decisions

    def classify_payload(self, payload: bytes | str, field: str = "payload") -> list[Decision]:
        """A raw JSON body: one decision per error found, in payload order."""
        if not payload:
            raise InputError(field, "the payload is empty")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InputError(
                field, f"{len(payload)} bytes is over the limit of {MAX_PAYLOAD_BYTES} (4 MiB)"
            )
        found = extract_webhook_errors(payload, field)
        if found is None:
            found = extract_errors(loads(payload, field), field)
        return [self.decide(raw) for raw in found]

    def classify_document(self, document: Any, field: str = "json") -> list[Decision]:
        """An already parsed JSON body (e.g. from a google.protobuf.Struct)."""
        return [self.decide(raw) for raw in extract_errors(document, field)]

    def classify_struct(self, struct: struct_pb2.Struct, field: str = "json") -> list[Decision]:
        """A JSON body pasted as an object (grpcurl users)."""
        try:
            document = json_format.MessageToDict(struct)
        except (ValueError, json_format.Error) as exc:  # NaN or Infinity: JSON has neither
            raise InputError(field, f"not representable as JSON: {exc}") from None
        if not document:
            raise InputError(field, "the JSON object is empty")
        return self.classify_document(document, field)

    def classify_text(self, text: str, field: str = "text") -> list[Decision]:
        """An error text: always exactly one decision."""
        if not text.strip():
            raise InputError(field, "the text is empty")
        return [self.decide(to_found(RawError(message=text)))]

    def classify_structured(
        self, error: pb.StructuredError, field: str = "error"
    ) -> list[Decision]:
        """A failure given as separate fields: always exactly one decision."""
        if error.code < 0 or error.subcode < 0:
            raise InputError(f"{field}.code", "codes must not be negative")
        if error.http_status and not 100 <= error.http_status <= 599:
            raise InputError(f"{field}.http_status", f"not an HTTP status: {error.http_status}")
        has_code = error.HasField("code")
        if not (
            has_code
            or error.subcode
            or error.title
            or error.message
            or error.details
            or error.http_status
        ):
            raise InputError(field, "the error has no code, text or HTTP status")
        raw = RawError(
            code=error.code if has_code else None,
            subcode=error.subcode or None,
            title=error.title,
            message=error.message,
            details=error.details,
            http_status=error.http_status,
        )
        return [self.decide(to_found(raw))]

    def classify_input(self, request: Any, kind: str | None) -> list[Decision]:
        """Dispatches on the `input` oneof of a ClassifyRequest or ClassifyItem."""
        if kind == "code":
            return self.classify_code(request.code)
        if kind == "payload":
            return self.classify_payload(request.payload)
        if kind == "text":
            return self.classify_text(request.text)
        if kind == "json":
            return self.classify_struct(request.json)
        if kind == "error":
            return self.classify_structured(request.error)
        raise InputError("input", "set one of code, payload, text, json or error")

    # ---- the decision -------------------------------------------------------

    def decide(self, raw: FoundError) -> Decision:
        """Finds the best catalog answer for one error."""
        listings = self.catalog.listings
        code, subcode = raw.code, raw.subcode
        if (
            subcode is not None
            and subcode in listings
            and (code is None or code in GENERIC_CODES or code not in listings)
        ):
            return Decision(
                self.messages.primary[subcode], pb.MATCH_KIND_SUBCODE, CONF_CATALOG, raw
            )
        if code is not None and code in listings:
            info = self.messages.primary[code]
            kind = pb.MATCH_KIND_CODE_RANGE if info.document_range else pb.MATCH_KIND_EXACT_CODE
            confidence = CONF_CATALOG if info.source == pb.SOURCE_META else CONF_DOCUMENT
            return Decision(info, kind, confidence, raw)
        text = self.text.match(raw.title, raw.message, raw.details)
        if text is not None and text.confidence >= STRONG:
            info = self.messages.primary[text.code]
            return Decision(info, pb.MATCH_KIND_MESSAGE_TEXT, text.confidence, raw)
        if code is not None:
            family = self.catalog.family_of(code)
            if family is not None:
                return Decision(self._family(code), pb.MATCH_KIND_CODE_FAMILY, CONF_FAMILY, raw)
        if text is not None:
            info = self.messages.primary[text.code]
            return Decision(info, pb.MATCH_KIND_MESSAGE_TEXT, text.confidence, raw)
        mapped = self.catalog.http_statuses.get(raw.http_status)
        if mapped is not None:
            return Decision(
                self.messages.primary[mapped], pb.MATCH_KIND_HTTP_STATUS, CONF_HTTP, raw
            )
        if raw.is_transient:
            info = self._transient(code or 0)
            return Decision(info, pb.MATCH_KIND_TRANSIENT_HINT, CONF_TRANSIENT, raw)
        return Decision(self._unknown_info(code or 0), pb.MATCH_KIND_NONE, 0.0, raw)

    def _family(self, code: int) -> pb.ErrorInfo:
        info = self._inferred.get(code)
        if info is None:
            family = self.catalog.family_of(code)
            assert family is not None
            info = family_info(code, family)
            self._remember(code, info)
        return info

    def _transient(self, code: int) -> pb.ErrorInfo:
        return inferred_info(
            code,
            category=pb.CATEGORY_UNKNOWN,
            reason="Transient error",
            description="No catalog entry matches, but the payload marks the error as transient.",
            retry_strategy=pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF,
            actor=pb.ACTOR_PLATFORM,
            retry_after_seconds=5,
        )

    def _unknown_info(self, code: int) -> pb.ErrorInfo:
        if code == 0:
            return self._unknown
        info = pb.ErrorInfo()
        info.CopyFrom(self._unknown)
        info.code = code
        return info

    def _remember(self, code: int, info: pb.ErrorInfo) -> None:
        if len(self._inferred) >= _INFERRED_CACHE_MAX:
            self._inferred.clear()
        self._inferred[code] = info
