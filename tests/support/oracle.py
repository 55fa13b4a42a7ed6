"""The message-built answer: what the hand-framed wire bytes must equal.

`to_message` builds a Classification the ordinary protobuf way; the tests
compare its serialisation with server/rpc/wire.py's cached bytes.
"""

from __future__ import annotations

from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.v1 import error_catalog_pb2 as pb


def to_message(decision: Decision) -> pb.Classification:
    """The Classification message for one decision."""
    message = pb.Classification(
        error_info=decision.info,
        match_kind=decision.match_kind,
        confidence=decision.confidence,
        context=decision.raw.context,
    )
    if decision.retry_after is not None:
        message.retry_after.FromNanoseconds(round(decision.retry_after * 1e9))
    return message
