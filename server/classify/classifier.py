"""Turns any failure a backend received into decisions: what it means, what to do.

The Classifier takes each kind of input (a code, a JSON body, a text, a
structured error), has the readers find its errors and decides each one
(server/classify/decide.py). An unknown code is never an RPC error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, struct_pb2

from whatsapp_errors.server.catalog import Catalog
from whatsapp_errors.server.classify.codes import MAX_SYMBOL
from whatsapp_errors.server.classify.decide import Decider, Decision
from whatsapp_errors.server.classify.error_context import to_found
from whatsapp_errors.server.classify.found import InputError, RawError
from whatsapp_errors.server.classify.generic_reader import errors_in_text, extract_errors, loads
from whatsapp_errors.server.classify.transport import apply_transport, read_transport
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors
from whatsapp_errors.v1 import error_catalog_pb2 as pb

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
"""Largest JSON body one input may carry (the proto documents it)."""
Transport = pb.Transport | None
"""The HTTP response an input came with, when the caller sent it."""


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
        self.decider = Decider(catalog)
        self.messages = self.decider.messages
        self.text = self.decider.text
        self.decide = self.decider.decide
        self._codes: dict[int, list[Decision]] = {}

    @property
    def version(self) -> str:
        """The catalog version every answer names."""
        return self.catalog.version

    # ---- inputs -------------------------------------------------------------

    def classify_code(self, code: int, transport: Transport = None) -> list[Decision]:
        """A bare code: always exactly one decision (shared for listed codes: read-only).

        A listed code's decision never changes for this catalog, so it is made
        once; the servicer's bare-code answer is then a dict hit here and one
        for its bytes in the encoder. A code with a transport is decided afresh.
        """
        decisions = self._codes.get(code) if transport is None else None
        if decisions is not None:
            return decisions
        if code < 0:
            raise InputError("code", f"a code must not be negative, got {code}")
        found = [to_found(RawError(code=code, shape="code"))]
        if transport is not None:
            apply_transport(found, *read_transport(transport))
            return [self.decide(found[0])]
        decisions = [self.decide(found[0])]
        if code in self.catalog.listings:
            self._codes[code] = decisions
        return decisions

    def classify_payload(
        self, payload: bytes | str, field: str = "payload", transport: Transport = None
    ) -> list[Decision]:
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
        if transport is not None:
            apply_transport(found, *read_transport(transport))
        return [self.decide(raw) for raw in found]

    def classify_document(
        self, document: Any, field: str = "json", transport: Transport = None
    ) -> list[Decision]:
        """An already parsed JSON body (e.g. from a google.protobuf.Struct)."""
        found = extract_errors(document, field)
        if transport is not None:
            apply_transport(found, *read_transport(transport))
        return [self.decide(raw) for raw in found]

    def classify_struct(
        self, struct: struct_pb2.Struct, field: str = "json", transport: Transport = None
    ) -> list[Decision]:
        """A JSON body pasted as an object (grpcurl users)."""
        try:
            document = json_format.MessageToDict(struct)
        except (ValueError, json_format.Error) as exc:  # NaN or Infinity: JSON has neither
            raise InputError(field, f"not representable as JSON: {exc}") from None
        if not document:
            raise InputError(field, "the JSON object is empty")
        return self.classify_document(document, field, transport)

    def classify_text(
        self, text: str, field: str = "text", transport: Transport = None
    ) -> list[Decision]:
        """An error text: one decision per error of a JSON or dict fragment in it, else one.

        A log line's codes (`(#131047)`, `code 131047`, `error_subcode=N`) are
        read into the error, marked as read from text.
        """
        if not text.strip():
            raise InputError(field, "the text is empty")
        found = errors_in_text(text, field)
        if not found:
            found = [to_found(RawError(message=text, shape="text"))]
        if transport is not None:
            apply_transport(found, *read_transport(transport))
        return [self.decide(raw) for raw in found]

    def classify_structured(
        self, error: pb.StructuredError, field: str = "error", transport: Transport = None
    ) -> list[Decision]:
        """A failure given as separate fields: always exactly one decision.

        A negative `code` is a BSP's sentinel, kept as the symbolic code.
        """
        if error.subcode < 0:
            raise InputError(f"{field}.subcode", "a subcode must not be negative")
        if error.http_status and not 100 <= error.http_status <= 599:
            raise InputError(f"{field}.http_status", f"not an HTTP status: {error.http_status}")
        has_code = error.HasField("code")
        code = error.code if has_code and error.code >= 0 else None
        symbolic = error.symbolic_code.strip() or (
            str(error.code) if has_code and code is None else ""
        )
        if not (
            has_code
            or symbolic
            or error.subcode
            or error.title
            or error.message
            or error.details
            or error.http_status
            or error.error_user_title
            or error.error_user_msg
        ):
            raise InputError(field, "the error has no code, text or HTTP status")
        raw = RawError(
            code=code,
            subcode=error.subcode or None,
            title=error.title or error.error_user_title,
            message=error.message or error.error_user_msg,
            details=error.details,
            http_status=error.http_status,
            href=error.href,
            fbtrace_id=error.fbtrace_id,
            is_transient=error.is_transient if error.HasField("is_transient") else None,
            symbolic_code=symbolic[:MAX_SYMBOL],
            user_title=error.error_user_title,
            user_message=error.error_user_msg,
            shape="structured",
        )
        found = [to_found(raw)]
        if transport is not None:
            apply_transport(found, *read_transport(transport, "transport"))
        return [self.decide(found[0])]

    def classify_input(self, request: Any, kind: str | None) -> list[Decision]:
        """Dispatches on the `input` oneof of a ClassifyRequest or ClassifyItem.

        The request's `transport` (HTTP status and headers), when set, travels
        with whichever input it came with.
        """
        transport = request.transport if request.HasField("transport") else None
        if kind == "code":
            return self.classify_code(request.code, transport)
        if kind == "payload":
            return self.classify_payload(request.payload, "payload", transport)
        if kind == "text":
            return self.classify_text(request.text, "text", transport)
        if kind == "json":
            return self.classify_struct(request.json, "json", transport)
        if kind == "error":
            return self.classify_structured(request.error, "error", transport)
        raise InputError("input", "set one of code, payload, text, json or error")
