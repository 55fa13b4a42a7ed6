"""Client errors, and one-line descriptions of failed calls.

Unary calls raise the plain `grpc.RpcError`. Streams raise `StreamError`, a
`grpc.RpcError` too (so one `except grpc.RpcError` catches everything), that
also says how far the stream got, because a caller streaming a million
payloads needs to know which ones were answered.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class StreamError(grpc.RpcError):  # type: ignore[misc]  # grpc is untyped
    """A stream failed for good (after any reconnects) or stalled past its deadline."""

    def __init__(self, code: grpc.StatusCode, message: str, answered: int) -> None:
        super().__init__(message)
        self._code = code
        self._message = message
        self.answered = answered
        """Items whose results were yielded before the failure."""

    def code(self) -> grpc.StatusCode:
        """The gRPC status code, as on any RpcError."""
        return self._code

    def details(self) -> str:
        """The message, as on any RpcError."""
        return self._message

    def __str__(self) -> str:
        return self._message


def status_details(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a failed call carried in its trailers, if any."""
    try:
        return rpc_status.from_call(error)
    except (AttributeError, ValueError, TypeError):
        return None


def violations(status: status_pb2.Status) -> list[str]:
    """`field: description` for each BadRequest field violation in a status."""
    found: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.extend(f"{v.field}: {v.description}" for v in bad.field_violations)
    return found


def describe(error: BaseException) -> str:
    """One line saying what went wrong: status name, message, field violations."""
    if not isinstance(error, grpc.RpcError) or not hasattr(error, "code"):
        return str(error) or type(error).__name__
    code = error.code()
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    message = (error.details() or "").strip()
    status = status_details(error)
    extra = violations(status) if status is not None else []
    if extra and not all(v in message for v in extra):
        message = f"{message} ({'; '.join(extra)})" if message else "; ".join(extra)
    return f"{name}: {' '.join(message.split())}" if message else name


def error_metadata(error: grpc.RpcError) -> dict[str, str]:
    """The metadata of the google.rpc.ErrorInfo detail of a failed call (empty if none)."""
    status = status_details(error)
    found: dict[str, str] = {}
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            found.update(info.metadata)
    return found
