"""What a real answer is: the checks every load generator in bench/ applies to what it counts.

gRPC answers an error with HTTP 200 and puts the status in the trailers, so
a client that counts answers counts refusals as calls: an unknown method is
refused faster than any real call is answered. Every load generator here
therefore checks the first answer of a run against what the server must
say, then every later answer's status and size (unary) or item count
(stream), and a run with one wrong answer raises `WrongAnswerError` instead of
reporting a rate.
"""

from __future__ import annotations

from collections import Counter

import grpc
from google.protobuf.message import DecodeError

from whatsapp_errors.v1 import error_catalog_pb2 as pb

EMPTY_UNARY = b"\n\x02\x08\x01"
"""The empty-handler server's Classify answer (bench/servers/reference.py), whatever the request."""
EMPTY_STREAM = b"\n\x02\n\x00"
"""Its answer to each ClassifyStream request."""


class WrongAnswerError(RuntimeError):
    """A run got answers other than the ones it measures; its rate means nothing."""


def unary_expected(kind: str) -> bytes | None:
    """What the `kind` server (bench/procs.py) must answer a Classify with, for `first_unary`."""
    return EMPTY_UNARY if kind == "reference" else None


def first_unary(path: str, answer: bytes, expect: bytes | None) -> int:
    """Checks a run's first Classify answer on `path`; returns its size in bytes.

    `expect` is the exact answer of an empty-handler server; None stands for
    the service, whose answer must be a ClassifyResponse with at least one
    classification and the catalog version. Every later answer of the run
    must have the returned size (the same request gets the same answer).
    """
    if expect is not None:
        if answer != expect:
            raise WrongAnswerError(f"{path} answered {answer[:40]!r}, expected {expect!r}")
        return len(answer)
    try:
        reply = pb.ClassifyResponse.FromString(answer)
    except DecodeError as exc:
        raise WrongAnswerError(
            f"{path} answered {len(answer)} bytes that are no ClassifyResponse"
        ) from exc
    if not reply.classifications or not reply.catalog_version:
        raise WrongAnswerError(
            f"{path} answered a ClassifyResponse with {len(reply.classifications)} "
            f"classifications and catalog version {reply.catalog_version!r}"
        )
    return len(answer)


def refused(path: str, error: grpc.RpcError, good: int) -> WrongAnswerError:
    """The error to raise when a call on `path` failed after `good` good answers."""
    said = f" ({_details(error)})" if hasattr(error, "details") else ""
    return WrongAnswerError(f"{path} answered {status(error)}{said} after {good} good answers")


def failure(error: grpc.RpcError) -> str:
    """A failed call's status and the start of its details: the key it is counted under."""
    said = (_details(error) or "")[:60]
    return f"{status(error)} ({said})" if said else status(error)


def _details(error: grpc.RpcError) -> str | None:
    """A failed call's details, sync or grpc.aio (None when the error has none)."""
    details = getattr(error, "details", None)
    return details() if details is not None else None


def status(error: grpc.RpcError) -> str:
    """The status name of a failed call, sync or grpc.aio (both have `code()`)."""
    code = getattr(error, "code", None)
    return str(code().name) if code is not None else f"no status ({error!r})"


def wrong_size(path: str, size: int, expected: int, good: int) -> WrongAnswerError:
    """The error to raise when an answer on `path` had `size` bytes, not `expected`."""
    return WrongAnswerError(
        f"{path} answered {size} bytes where the checked answer had {expected}, "
        f"after {good} good answers"
    )


def tally(path: str, statuses: Counter[str], expected: int) -> None:
    """Raises unless every call of a run was OK and the right size.

    `statuses` counts the calls by status name, "OK" for a right answer and
    "OK but N bytes" for an OK answer of another size than `expected`.
    """
    good = statuses.get("OK", 0)
    bad = {status: count for status, count in statuses.items() if status != "OK"}
    if bad:
        listed = ", ".join(f"{count} {status}" for status, count in sorted(bad.items()))
        raise WrongAnswerError(
            f"{path}: {sum(bad.values())} of {good + sum(bad.values())} calls went wrong "
            f"({listed}; a right answer has {expected} bytes)"
        )
