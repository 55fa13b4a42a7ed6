"""What the clients raise when a call fails: one class per thing a caller does differently.

    try:
        response = errors.classify(body)
    except InputRefused as exc:      # the payload can't be read: log it, don't resend it
        ...
    except Unreachable:              # the service is down (after the channel's retries)
        ...

Every class is a `grpc.RpcError` with the usual `code()`, `details()` and
`trailing_metadata()`, so code written against plain gRPC (`except
grpc.RpcError`, `exc.code() == grpc.StatusCode.NOT_FOUND`) keeps working; the
gRPC error itself is the `__cause__`. Streams raise `StreamError`, which also
says how far the stream got (a caller streaming a million payloads needs to
know which ones were answered) and is at the same time the class of its cause:
a ClassifyStream that lost the service is a `StreamError` and an `Unreachable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

import grpc

from whatsapp_errors.client.status import (
    describe,
    error_metadata,
    retry_delay,
    status_details,
    violations,
)

__all__ = [
    "InputRefused",
    "LimitExceeded",
    "NotFound",
    "ServiceError",
    "StreamError",
    "TimedOut",
    "Unauthenticated",
    "Unreachable",
    "failure",
    "raising_service_errors",
    "stream_failure",
]


class ServiceError(grpc.RpcError):  # type: ignore[misc]  # grpc is untyped
    """A call to the service failed; the subclass says how, `code()` says it in gRPC's words."""

    def __init__(
        self, code: grpc.StatusCode, message: str, cause: grpc.RpcError | None = None
    ) -> None:
        super().__init__(message)
        self._code = code
        self._message = message
        self._cause = cause

    def code(self) -> grpc.StatusCode:
        """The gRPC status code, as on any RpcError."""
        return self._code

    def details(self) -> str:
        """The server's (or gRPC's) message, as on any RpcError."""
        return self._message

    def trailing_metadata(self) -> Any:
        """The failed call's trailers (they carry the google.rpc.Status details)."""
        return self._cause.trailing_metadata() if self._cause is not None else None

    def debug_error_string(self) -> str:
        """gRPC's debug string of the failed call, when there was one."""
        debug = getattr(self._cause, "debug_error_string", None)
        return str(debug()) if callable(debug) else ""

    @property
    def violations(self) -> list[str]:
        """`field: description` for each field the server refused (BadRequest details)."""
        status = status_details(self) if self._cause is not None else None
        return violations(status) if status is not None else []

    def __str__(self) -> str:
        return describe(self)


class Unreachable(ServiceError):
    """UNAVAILABLE after the channel's retries: no server answered. Resending later is safe."""


class TimedOut(ServiceError):
    """DEADLINE_EXCEEDED: no answer within the deadline (a slow or stalled server)."""


class InputRefused(ServiceError):
    """INVALID_ARGUMENT: the server cannot read the input; sending it again won't help.

    `violations` names each field path and what is wrong with it.
    """


class NotFound(ServiceError):
    """NOT_FOUND: a code the catalog has no entry for (classify still answers for any code)."""

    @property
    def codes(self) -> list[int]:
        """The codes the catalog lacks, as the server listed them."""
        listed = error_metadata(self).get("codes", "")
        return [int(c) for c in listed.split(",") if c.strip().isdigit()]


class Unauthenticated(ServiceError):
    """UNAUTHENTICATED or PERMISSION_DENIED: a missing, wrong or unexpected token or certificate."""


class LimitExceeded(ServiceError):
    """RESOURCE_EXHAUSTED: a message over the size limit, or the server shedding load.

    `retry_delay` is when the server asked to come back (None when it did not).
    """

    @property
    def retry_delay(self) -> timedelta | None:
        """The google.rpc.RetryInfo delay the server sent, if any."""
        return retry_delay(self) if self._cause is not None else None


class StreamError(ServiceError):
    """A stream failed for good (after any reconnects) or stalled past its deadline."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        answered: int,
        cause: grpc.RpcError | None = None,
    ) -> None:
        super().__init__(code, message, cause)
        self.answered = answered
        """Items whose results were yielded before the failure."""

    def __str__(self) -> str:
        return self._message


_KINDS: dict[grpc.StatusCode, type[ServiceError]] = {
    grpc.StatusCode.UNAVAILABLE: Unreachable,
    grpc.StatusCode.DEADLINE_EXCEEDED: TimedOut,
    grpc.StatusCode.INVALID_ARGUMENT: InputRefused,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
}
_STREAM_KINDS: dict[type[ServiceError], type[StreamError]] = {
    kind: cast(
        "type[StreamError]",
        type(
            f"Stream{kind.__name__}",
            (StreamError, kind),
            {"__module__": __name__, "__doc__": f"A StreamError that is also {kind.__name__}."},
        ),
    )
    for kind in dict.fromkeys(_KINDS.values())
}


def _code_of(error: grpc.RpcError) -> grpc.StatusCode:
    code = error.code() if hasattr(error, "code") else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def failure(error: grpc.RpcError) -> ServiceError:
    """The client's exception for a failed call (the same one when it already is one)."""
    if isinstance(error, ServiceError):
        return error
    code = _code_of(error)
    kind = _KINDS.get(code, ServiceError)
    return kind(code, (error.details() or "") if hasattr(error, "details") else "", error)


def stream_failure(
    code: grpc.StatusCode, message: str, answered: int, cause: grpc.RpcError | None = None
) -> StreamError:
    """A StreamError that is also the class its status code maps to (Unreachable, ...)."""
    kind = _STREAM_KINDS.get(_KINDS.get(code, ServiceError), StreamError)
    return kind(code, message, answered, cause)


@contextmanager
def raising_service_errors() -> Iterator[None]:
    """Turns a gRPC error raised inside into the client's class for it."""
    try:
        yield
    except ServiceError:
        raise
    except grpc.RpcError as exc:
        raise failure(exc) from exc
