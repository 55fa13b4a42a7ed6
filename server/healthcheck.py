"""`python -m whatsapp_errors.server.healthcheck`: exit 0 if the server's gRPC health says SERVING.

For Docker's HEALTHCHECK (grpc_health_probe is a Go binary, not on PyPI).
Kubernetes needs none of this: its native `grpc:` probes call the same
health service. A server started with TLS (and a token) is probed with the
same: `--tls-ca` turns TLS on, `--tls-cert/--tls-key` add the client
certificate mutual TLS asks for, and the token comes from `--token-file` or
WAERR_TOKEN, as the server reads it. Exit codes: 0 SERVING, 1 anything else
(NOT_SERVING, unreachable, refused, timeout), 2 bad arguments or unreadable files.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TOKEN_ENV = "WAERR_TOKEN"


@dataclass(frozen=True)
class Probe:
    """How to reach the health service: plaintext by default, TLS with a CA file."""

    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_server_name: str | None = None
    token: str | None = None


def _channel(target: str, probe: Probe) -> grpc.Channel:
    if probe.tls_ca is None:
        return grpc.insecure_channel(target)
    creds = grpc.ssl_channel_credentials(
        root_certificates=probe.tls_ca.read_bytes(),
        private_key=probe.tls_key.read_bytes() if probe.tls_key else None,
        certificate_chain=probe.tls_cert.read_bytes() if probe.tls_cert else None,
    )
    options = [("grpc.ssl_target_name_override", probe.tls_server_name)]
    return grpc.secure_channel(target, creds, options=options if probe.tls_server_name else None)


def check(target: str, service: str = "", timeout: float = 2.0, probe: Probe | None = None) -> str:
    """The health status name of `service` at `target` (raises grpc.RpcError if unreachable)."""
    probe = probe or Probe()
    # The token as plain metadata works over TLS and plaintext alike (the probe is local).
    metadata = (("authorization", f"Bearer {probe.token}"),) if probe.token else None
    with _channel(target, probe) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout, metadata=metadata
        )
    name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return name


def _probe(args: argparse.Namespace) -> Probe:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if args.tls_cert is not None and args.tls_ca is None:
        raise ValueError("--tls-cert needs --tls-ca (the CA that signed the server's certificate)")
    token = args.token_file.read_text().strip() if args.token_file else None
    return Probe(
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
        token=token or os.environ.get(TOKEN_ENV, "").strip() or None,
    )


def main(argv: list[str] | None = None) -> int:
    """Prints the status and exits 0 only for SERVING."""
    parser = argparse.ArgumentParser(
        prog="python -m whatsapp_errors.server.healthcheck", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--service", default="", help='service name ("" = the whole server)')
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--tls-ca", type=Path, help="CA bundle to verify the server (turns TLS on)")
    parser.add_argument("--tls-cert", type=Path, help="client certificate, for mutual TLS")
    parser.add_argument("--tls-key", type=Path, help="the client certificate's private key")
    parser.add_argument("--tls-server-name", help="name to check the server's certificate against")
    parser.add_argument("--token-file", type=Path, help=f"bearer token (default: ${TOKEN_ENV})")
    args = parser.parse_args(argv)
    try:
        probe = _probe(args)
        status = check(f"{args.host}:{args.port}", args.service, args.timeout, probe)
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        print(f"unhealthy: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
