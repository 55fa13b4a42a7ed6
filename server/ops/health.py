"""The gRPC health service, with the `List` method grpcio's aio servicer leaves out.

health.proto has Check, Watch and List; grpcio-health-checking's aio
servicer implements the first two, and the generated registration still
routes List to it, where NotImplementedError makes grpcio log an ERROR with
a traceback for every call. Health is open without a token, so anyone could
fill the log that way; here List answers what Check would for every service.
"""

from __future__ import annotations

from typing import Any

from grpc_health.v1 import health, health_pb2


class HealthServicer(health.aio.HealthServicer):  # type: ignore[misc]  # grpc is untyped
    """Check and Watch as grpcio serves them, and List."""

    async def List(  # noqa: N802 (the RPC's name)
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        """Every registered service's status, as Check would answer it now."""
        statuses = dict(self._server_status)  # a snapshot: set() may run meanwhile
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in statuses.items()
            }
        )
