"""How the client reaches the service: target, TLS, token, limits, retries, balancing.

One place builds the channel arguments for both the sync and the asyncio
client, so the two behave the same: the published channel policy
(whatsapp_errors.client.policy: round-robin across every address, gRPC retries for
UNAVAILABLE and a server's CANCELLED, the server's message-size limits, keepalive pings that
notice a dead peer) and a default deadline on every call.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from whatsapp_errors.client.policy import CHANNEL_OPTIONS, SERVICE_CONFIG
from whatsapp_errors.v1 import error_catalog_pb2 as pb

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ErrorCatalogService"].full_name
MAX_MESSAGE_BYTES: int = CHANNEL_OPTIONS["grpc.max_receive_message_length"]
"""Largest request or response message (channel_options.json); the same as
whatsapp_errors.server.app.MAX_MESSAGE_BYTES, which the client must not import."""
DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "waerr-client/1.0"


class ConfigError(ValueError):
    """The client was configured wrongly (bad target, unreadable TLS file or token)."""


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to connect; the defaults reach a local plaintext server.

    `target` is one address (`host:port`), a comma-separated string or a
    sequence of addresses (round-robin across them), or any gRPC target URI such
    as `dns:///errors.internal:50051` (round-robin across every DNS record).
    """

    target: str | Sequence[str] = DEFAULT_TARGET
    timeout: float | None = DEFAULT_TIMEOUT_SECONDS
    """Deadline of each unary call; for streams, the longest wait for one batch's answer."""
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls: bool = False
    """TLS with the system roots; implied by any `tls_*` file."""
    tls_server_name: str | None = None
    """Name to verify the server's certificate against when `target` is an IP address."""
    token: str | None = None
    """Bearer token sent as `authorization: Bearer <token>` on every call."""

    @property
    def uses_tls(self) -> bool:
        """Whether the channel is encrypted."""
        return self.tls or any(p is not None for p in (self.tls_ca, self.tls_cert, self.tls_key))


def grpc_target(target: str | Sequence[str]) -> str:
    """The gRPC target string for one address, a list of addresses or a URI.

    A list becomes `ipv4:a:p,b:p` (or `ipv6:`), the form gRPC balances over;
    host names in a list are resolved once here, because gRPC's list syntax
    takes addresses only (use `dns:///name:port` to follow DNS instead).
    """
    if isinstance(target, str):
        if "://" in target or target.startswith(("ipv4:", "ipv6:", "unix:", "dns:")):
            return target
        parts = [part.strip() for part in target.split(",") if part.strip()]
    else:
        parts = [part.strip() for part in target]
    if not parts:
        raise ConfigError("no target address given")
    if len(parts) == 1:
        _split_host_port(parts[0])
        return parts[0]
    addresses = [_resolve(*_split_host_port(part)) for part in parts]
    if all(":" not in host for host, _ in addresses):
        return "ipv4:" + ",".join(f"{host}:{port}" for host, port in addresses)
    if all(":" in host for host, _ in addresses):
        return "ipv6:" + ",".join(f"[{host}]:{port}" for host, port in addresses)
    raise ConfigError(f"cannot mix IPv4 and IPv6 addresses in one target: {','.join(parts)}")


def _split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"target {address!r} is not host:port")
    return host.strip("[]"), int(port)


def _resolve(host: str, port: int) -> tuple[str, int]:
    """An IP address for `host`, preferring IPv4 (what loopback servers bind)."""
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"cannot resolve {host}: {exc}") from exc
    for family in (socket.AF_INET, socket.AF_INET6):
        for info in infos:
            if info[0] == family:
                return str(info[4][0]), port
    raise ConfigError(f"cannot resolve {host} to an IP address")


def channel_options(config: ClientConfig) -> list[tuple[str, Any]]:
    """Channel arguments shared by the sync and the asyncio client."""
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        *CHANNEL_OPTIONS.items(),
        ("grpc.primary_user_agent", USER_AGENT),
    ]
    if config.tls_server_name:
        options.append(("grpc.ssl_target_name_override", config.tls_server_name))
    return options


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def channel_credentials(config: ClientConfig) -> grpc.ChannelCredentials | None:
    """TLS credentials (plus the token as call credentials), or None for plaintext."""
    if not config.uses_tls:
        return None
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together (mutual TLS needs both)")
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(config.tls_ca, "TLS CA file") if config.tls_ca else None,
        private_key=_read(config.tls_key, "TLS key file") if config.tls_key else None,
        certificate_chain=_read(config.tls_cert, "TLS certificate file")
        if config.tls_cert
        else None,
    )
    if config.token:
        creds = grpc.composite_channel_credentials(
            creds, grpc.access_token_call_credentials(config.token)
        )
    return creds


def call_metadata(config: ClientConfig) -> tuple[tuple[str, str], ...] | None:
    """Per-call metadata carrying the token on a plaintext channel.

    gRPC refuses to send call credentials over plaintext, so without TLS the
    token travels as ordinary metadata: fine on loopback or behind a proxy that
    terminates TLS, readable by anyone on the path otherwise.
    """
    if config.token and not config.uses_tls:
        return (("authorization", f"Bearer {config.token}"),)
    return None


def read_token(path: Path) -> str:
    """The bearer token in a file (surrounding whitespace removed)."""
    token = _read(path, "token file").decode("utf-8", "replace").strip()
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token
