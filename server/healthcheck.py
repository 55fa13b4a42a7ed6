"""`python -m server.healthcheck`: exit 0 if the server's gRPC health says SERVING.

For Docker's HEALTHCHECK (grpc_health_probe is a Go binary, not on PyPI).
Kubernetes needs none of this: its native `grpc:` probes call the same
health service. Exit codes: 0 SERVING, 1 anything else (NOT_SERVING,
unreachable, timeout), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, service: str = "", timeout: float = 2.0) -> str:
    """The health status name of `service` at `target` (raises grpc.RpcError if unreachable)."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return name


def main(argv: list[str] | None = None) -> int:
    """Prints the status and exits 0 only for SERVING."""
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--service", default="", help='service name ("" = the whole server)')
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    try:
        status = check(f"{args.host}:{args.port}", args.service, args.timeout)
    except grpc.RpcError as exc:
        print(f"unhealthy: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
