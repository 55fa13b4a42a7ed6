"""Pre-serialised responses for Classify and ClassifyStream.

A classification repeats the same large ErrorInfo (reason, description,
action, listings: ~400 bytes) for every error of a code. Building it as a
message copies that ErrorInfo into every Classification and serialises it
again on every call. Here each (ErrorInfo, match kind, confidence) head is
encoded once, and a response is the concatenation of those cached bytes
with the per-error ErrorContext, framed by hand. The output is byte for
byte what `SerializeToString()` of the message-built response gives
(tests/test_wire.py proves it), so clients see no difference.

The two handlers then return `bytes`; server/rpc/registration.py registers
the service with a response serialiser that passes bytes through and still
serialises messages, so every other handler is untouched.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from google.protobuf.duration_pb2 import Duration

from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.server.rich_status import OK
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_HEAD_CACHE_MAX = 8192
_CODE_CACHE_MAX = 4096
_ID_CACHE_MAX = 4096
"""Item ids whose encoded field is remembered (a batch's ids, "0" to "999", repeat)."""
_ID_CACHE_LONGEST = 64
"""Longer ids are encoded each time: a cache of them would hold the caller's bytes."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [_varint(i) for i in range(1 << 14)]


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    return _SMALL[value] if value < 16384 else _varint(value)


def length_delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + (_SMALL[len(payload)] if len(payload) < 16384 else _varint(len(payload))) + payload


# Field tags (field number << 3 | wire type), named after the proto fields.
_T_CLASSIFICATION_ERROR_INFO = b"\x0a"  # Classification.error_info = 1, bytes
_T_CLASSIFICATION_MATCH_KIND = b"\x10"  # Classification.match_kind = 2, varint
_T_CLASSIFICATION_CONFIDENCE = b"\x1d"  # Classification.confidence = 3, fixed32
_T_CLASSIFICATION_CONTEXT = b"\x22"  # Classification.context = 4, bytes
_T_CLASSIFICATION_RETRY_AFTER = b"\x2a"  # Classification.retry_after = 5, bytes
_T_RESPONSE_CLASSIFICATIONS = b"\x0a"  # ClassifyResponse.classifications = 1
_T_RESPONSE_VERSION = b"\x12"  # ClassifyResponse.catalog_version = 2
_T_RESULT_ID = b"\x0a"  # ClassifyResult.id = 1
_T_RESULT_CLASSIFICATIONS = b"\x12"  # ClassifyResult.classifications = 2
_T_STREAM_RESULTS = b"\x0a"  # ClassifyStreamResponse.results = 1
_T_STREAM_VERSION = b"\x12"  # ClassifyStreamResponse.catalog_version = 2
_RESULT_STATUS_OK = b"\x1a" + varint(len(OK.SerializeToString())) + OK.SerializeToString()
"""ClassifyResult.status = 3 holding OK (present, so framed even when empty)."""
_STATUS_OK_SIZE = len(_RESULT_STATUS_OK)


class WireEncoder:
    """Encodes Classify and ClassifyStream responses for one catalog version.

    It only encodes: the decisions come from the classifier. Its caches
    hold encoded ErrorInfos, so a new catalog needs a new encoder.
    """

    def __init__(self, version: str) -> None:
        self.version = version
        version_bytes = version.encode()
        self._version_field = (
            length_delimited(_T_RESPONSE_VERSION, version_bytes) if version_bytes else b""
        )
        # id(info) -> (info, head bytes); holding `info` keeps its id from being reused.
        self._heads: dict[tuple[int, int, float], tuple[pb.ErrorInfo, bytes]] = {}
        self._codes: dict[int, bytes] = {}
        self._ids: dict[str, bytes] = {}

    def _head(self, decision: Decision) -> bytes:
        """error_info, match_kind and confidence of a Classification, encoded once."""
        key = (id(decision.info), decision.match_kind, decision.confidence)
        cached = self._heads.get(key)
        if cached is not None and cached[0] is decision.info:
            return cached[1]
        head = length_delimited(_T_CLASSIFICATION_ERROR_INFO, decision.info.SerializeToString())
        if decision.match_kind:
            head += _T_CLASSIFICATION_MATCH_KIND + varint(decision.match_kind)
        confidence = struct.pack("<f", decision.confidence)
        if decision.confidence != 0.0:
            head += _T_CLASSIFICATION_CONFIDENCE + confidence
        if len(self._heads) >= _HEAD_CACHE_MAX:
            self._heads.clear()
        self._heads[key] = (decision.info, head)
        return head

    def classification(self, decision: Decision) -> bytes:
        """One Classification message's bytes."""
        context = decision.raw.context.SerializeToString()
        return (
            self._head(decision)
            + length_delimited(_T_CLASSIFICATION_CONTEXT, context)
            + _retry_after_field(decision.retry_after)
        )

    def classifications(self, tag: bytes, decisions: Sequence[Decision]) -> bytes:
        """The repeated classifications field of a response or result."""
        return b"".join(length_delimited(tag, self.classification(d)) for d in decisions)

    def classify_response(self, decisions: Sequence[Decision]) -> bytes:
        """A ClassifyResponse's bytes."""
        return self.classifications(_T_RESPONSE_CLASSIFICATIONS, decisions) + self._version_field

    def code_response(self, code: int, decisions: Sequence[Decision]) -> bytes:
        """The ClassifyResponse of a listed bare code, encoded once per code.

        Only for codes the catalog lists: their decisions never change for
        this catalog, so the bytes for `code` are those of its first answer.
        """
        cached = self._codes.get(code)
        if cached is not None:
            return cached
        response = self.classify_response(decisions)
        if len(self._codes) >= _CODE_CACHE_MAX:
            self._codes.clear()
        self._codes[code] = response
        return response

    def result(self, item_id: str, decisions: Sequence[Decision]) -> bytes:
        """A ClassifyResult (status OK) as the bytes of its field in a stream response.

        The hot path of ClassifyStream: lengths are summed, not re-measured,
        the id's field is encoded once per id (a batch's ids repeat from
        batch to batch), and the parts are joined once (same bytes as
        `classifications()` framing). The usual item, one decision without
        a stated wait, is framed without a loop.
        """
        small = _SMALL
        id_field = self._ids.get(item_id)
        if id_field is None:
            id_field = self._id_field(item_id)
        if len(decisions) == 1 and decisions[0].retry_after is None:
            decision = decisions[0]
            info = decision.info  # _head's cache, looked up inline
            cached = self._heads.get((id(info), decision.match_kind, decision.confidence))
            head = cached[1] if cached is not None and cached[0] is info else self._head(decision)
            context = decision.raw.context.SerializeToString()
            length = len(context)
            context_len = small[length] if length < 16384 else _varint(length)
            inner = len(head) + 1 + len(context_len) + length
            inner_len = small[inner] if inner < 16384 else _varint(inner)
            size = len(id_field) + 1 + len(inner_len) + inner + _STATUS_OK_SIZE
            return b"".join(
                (
                    _T_STREAM_RESULTS,
                    small[size] if size < 16384 else _varint(size),
                    id_field,
                    _T_RESULT_CLASSIFICATIONS,
                    inner_len,
                    head,
                    _T_CLASSIFICATION_CONTEXT,
                    context_len,
                    context,
                    _RESULT_STATUS_OK,
                )
            )
        parts: list[bytes] = [b"", b"", id_field]  # the result's tag and length go first
        size = len(id_field) + _STATUS_OK_SIZE
        for decision in decisions:
            head = self._head(decision)
            context = decision.raw.context.SerializeToString()
            context_len = small[len(context)] if len(context) < 16384 else _varint(len(context))
            wait = b"" if decision.retry_after is None else _retry_after_field(decision.retry_after)
            inner = len(head) + 1 + len(context_len) + len(context) + len(wait)
            inner_len = small[inner] if inner < 16384 else _varint(inner)
            parts += (
                _T_RESULT_CLASSIFICATIONS,
                inner_len,
                head,
                _T_CLASSIFICATION_CONTEXT,
                context_len,
                context,
                wait,
            )
            size += 1 + len(inner_len) + inner
        parts.append(_RESULT_STATUS_OK)
        parts[0] = _T_STREAM_RESULTS
        parts[1] = varint(size)
        return b"".join(parts)

    def _id_field(self, item_id: str) -> bytes:
        """ClassifyResult.id's field (nothing for an empty id), remembered for the next batch."""
        raw_id = item_id.encode()
        field = _T_RESULT_ID + varint(len(raw_id)) + raw_id if raw_id else b""
        if len(self._ids) >= _ID_CACHE_MAX:
            self._ids.clear()
        if len(raw_id) <= _ID_CACHE_LONGEST:
            self._ids[item_id] = field
        return field

    def message_result(self, result: pb.ClassifyResult) -> bytes:
        """A result built as a message (an item's error) as its field's bytes."""
        return length_delimited(_T_STREAM_RESULTS, result.SerializeToString())

    def stream_response(self, results: Sequence[bytes]) -> bytes:
        """A ClassifyStreamResponse from encoded results.

        Joined once: `join(results) + version` would copy a 1000-item answer
        (~800 KB) a second time.
        """
        return b"".join([*results, self._version_field])


def _retry_after_field(seconds: float | None) -> bytes:
    """Classification.retry_after, present only when the input stated a wait."""
    if seconds is None:
        return b""
    wait = Duration()
    wait.FromNanoseconds(round(seconds * 1e9))
    return length_delimited(_T_CLASSIFICATION_RETRY_AFTER, wait.SerializeToString())
