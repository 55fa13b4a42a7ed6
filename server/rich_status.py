"""Builds rich gRPC errors: google.rpc.Status with ErrorInfo and BadRequest details.

Callers get a machine-readable reason and the offending field, not just a
sentence, whether the error ends the call or is one item's status in a stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DOMAIN = "whatsapp.errors.v1"
"""The `domain` of every google.rpc.ErrorInfo this service sends."""

OK = status_pb2.Status(code=code_pb2.OK)


class ServiceError(Exception):
    """An error that ends an RPC with a rich status."""

    def __init__(self, status: status_pb2.Status, grpc_code: grpc.StatusCode) -> None:
        super().__init__(status.message)
        self.status = status
        self.grpc_code = grpc_code

    @property
    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        """Where grpc-status-details-bin carries the details."""
        return (("grpc-status-details-bin", self.status.SerializeToString()),)


def _pack(*messages: object) -> list[any_pb2.Any]:
    packed = []
    for message in messages:
        container = any_pb2.Any()
        container.Pack(message)  # type: ignore[arg-type]
        packed.append(container)
    return packed


def invalid_argument_status(
    violations: Sequence[tuple[str, str]], reason: str = "INVALID_ARGUMENT"
) -> status_pb2.Status:
    """INVALID_ARGUMENT naming each offending field and what is wrong with it."""
    message = "; ".join(f"{field}: {description}" for field, description in violations)
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in violations
        ]
    )
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=message, details=_pack(info, bad_request)
    )


def invalid_argument(
    violations: Sequence[tuple[str, str]], reason: str = "INVALID_ARGUMENT"
) -> ServiceError:
    """A ServiceError for bad input."""
    return ServiceError(
        invalid_argument_status(violations, reason), grpc.StatusCode.INVALID_ARGUMENT
    )


def not_found(
    message: str,
    reason: str,
    metadata: Mapping[str, str],
    links: Sequence[tuple[str, str]] = (),
) -> ServiceError:
    """NOT_FOUND with an ErrorInfo saying which resource was missing, and Help links."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=dict(metadata))
    details = [info]
    if links:
        details.append(
            error_details_pb2.Help(
                links=[error_details_pb2.Help.Link(description=d, url=u) for d, u in links]
            )
        )
    status = status_pb2.Status(code=code_pb2.NOT_FOUND, message=message, details=_pack(*details))
    return ServiceError(status, grpc.StatusCode.NOT_FOUND)


def resource_exhausted(message: str, reason: str, retry_after_seconds: int = 1) -> ServiceError:
    """RESOURCE_EXHAUSTED with a RetryInfo telling the caller when to come back."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.seconds = retry_after_seconds
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=_pack(info, retry)
    )
    return ServiceError(status, grpc.StatusCode.RESOURCE_EXHAUSTED)


def budget_exceeded_status(message: str, budget: str, limit: int) -> status_pb2.Status:
    """RESOURCE_EXHAUSTED for input past a request budget (server/rpc/budget.py).

    No RetryInfo: the same request would be refused again; a smaller one
    (fewer items per batch) is the way through. The ErrorInfo names the
    budget and its limit for callers that split and resend.
    """
    info = error_details_pb2.ErrorInfo(
        reason="REQUEST_BUDGET_EXCEEDED",
        domain=DOMAIN,
        metadata={"budget": budget, "limit": str(limit)},
    )
    return status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=_pack(info))
