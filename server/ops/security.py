"""Transport security settings: TLS, mutual TLS, the token's source, and their flags.

The server is plaintext on 127.0.0.1 unless told otherwise. Binding any other
address needs TLS (`--tls-cert/--tls-key`) or an explicit `--insecure`;
`--tls-client-ca` turns on mutual TLS (a client certificate signed by that CA
is required). A bearer token (`--token-file` or `WAERR_TOKEN`) is read here
and checked by the interceptor in server/ops/auth.py.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

_LOGGER = logging.getLogger(__name__)

TOKEN_ENV = "WAERR_TOKEN"
"""Environment variable holding the bearer token (when --token-file is not given)."""
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods callable without the token: health probes carry no secrets."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)


class SecurityConfigError(ValueError):
    """A security flag combination the server refuses to start with."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM bytes for TLS; `client_ca` set means mutual TLS (client certificate required).

    Bytes, not credentials: `--workers N` forks before any gRPC object exists.
    """

    cert: bytes
    key: bytes
    client_ca: bytes | None = None


@dataclass(frozen=True)
class SecuritySettings:
    """What the command line asked for."""

    tls: TlsFiles | None
    token: str | None
    insecure: bool

    def describe(self) -> str:
        """One line for the start-up log (never the token itself)."""
        transport = "plaintext"
        if self.tls is not None:
            transport = "mutual TLS" if self.tls.client_ca is not None else "TLS"
        auth = "bearer token required" if self.token else "no authentication"
        return f"{transport}, {auth}"


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """gRPC server credentials for `tls`."""
    return grpc.ssl_server_credentials(
        [(tls.key, tls.cert)],
        root_certificates=tls.client_ca,
        require_client_auth=tls.client_ca is not None,
    )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    bare = host.strip("[]")
    if bare.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


# ---- command line -------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The TLS, --insecure and token flags."""
    group = parser.add_argument_group("security")
    group.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain")
    group.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key")
    group.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="PEM",
        help="mutual TLS: require client certificates signed by this CA",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow plaintext on a non-loopback --host (plaintext on 127.0.0.1 needs no flag)",
    )
    group.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help=f"require `authorization: Bearer <token>` with the token in PATH "
        f"(or set {TOKEN_ENV}); health stays open",
    )


def settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> SecuritySettings:
    """Reads the PEM and token files and checks the combination; SecurityConfigError if bad."""
    environ = os.environ if environ is None else environ
    tls = _tls_from_args(args)
    if tls is None and not args.insecure and not is_loopback(args.host):
        raise SecurityConfigError(
            f"refusing to serve plaintext on non-loopback address {args.host}: "
            "give --tls-cert and --tls-key, or --insecure to allow plaintext"
        )
    token = _token(args.token_file, environ)
    if token and tls is None and not is_loopback(args.host):
        _LOGGER.warning("the bearer token travels in plaintext: --insecure on %s", args.host)
    return SecuritySettings(tls=tls, token=token, insecure=args.insecure)


def _tls_from_args(args: argparse.Namespace) -> TlsFiles | None:
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise SecurityConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise SecurityConfigError("--tls-cert and --tls-key go together: give both")
    if args.insecure:
        raise SecurityConfigError("--insecure contradicts --tls-cert/--tls-key: give one")
    return TlsFiles(
        cert=_read_pem(args.tls_cert, "--tls-cert"),
        key=_read_pem(args.tls_key, "--tls-key"),
        client_ca=_read_pem(args.tls_client_ca, "--tls-client-ca")
        if args.tls_client_ca is not None
        else None,
    )


def _read_pem(path: Path, flag: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecurityConfigError(f"{flag} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise SecurityConfigError(f"{flag} {path}: not a PEM file (no -----BEGIN line)")
    return data


def _token(path: Path | None, environ: Mapping[str, str]) -> str | None:
    """The token from --token-file (first) or the environment; None when neither is set."""
    if path is not None:
        try:
            token = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecurityConfigError(f"--token-file {path}: {exc}") from None
        if not token:
            raise SecurityConfigError(f"--token-file {path}: the file is empty")
        source = f"--token-file {path}"
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            return None
        source = TOKEN_ENV
    if any(ch.isspace() for ch in token) or not token.isascii():
        raise SecurityConfigError(f"{source}: the token must be printable ASCII without spaces")
    return token
