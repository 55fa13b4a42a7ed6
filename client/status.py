"""Reading a failed call: its google.rpc.Status details and a one-line description.

The server puts the why of a refusal into the status details (BadRequest field
violations, an ErrorInfo naming the unknown codes, a RetryInfo saying when to
come back); these helpers read them off any failed call, grpc's own errors and
the client's alike, so the CLI and callers report the same line.
"""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"
"""The trailer that carries the google.rpc.Status (what grpcio-status reads; read here so
the client does not need that package, whose pins would raise the grpcio floor)."""


def status_details(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a failed call carried in its trailers, if any.

    None as well when the status in the trailer disagrees with the call's own
    code, as grpcio-status's `from_call` refuses it too.
    """
    try:
        trailers = error.trailing_metadata()
        code = error.code()
    except (AttributeError, TypeError):
        return None
    for key, value in trailers or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return None
        agrees = isinstance(code, grpc.StatusCode) and status.code == code.value[0]
        return status if agrees else None
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


def retry_delay(error: grpc.RpcError) -> timedelta | None:
    """The google.rpc.RetryInfo delay of a failed call: when the server asks to come back."""
    status = status_details(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            delay: timedelta = info.retry_delay.ToTimedelta()
            return delay
    return None
