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
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

_LOGGER = logging.getLogger(__name__)

TOKEN_ENV = "WAERR_TOKEN"
"""Environment variable holding the bearer token (when --token-file is not given)."""
METRICS_TOKEN_ENV = "WAERR_METRICS_TOKEN"
"""Environment variable holding the /metrics token (when --metrics-token-file is not given)."""
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
    metrics_token: str | None = None

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
    group.add_argument(
        "--metrics-token-file",
        type=Path,
        metavar="PATH",
        help=f"require `Authorization: Bearer <token>` on /metrics, the token in PATH "
        f"(or set {METRICS_TOKEN_ENV}); default: /metrics is open on --metrics-host",
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
    token = _token(args.token_file, environ, "--token-file", TOKEN_ENV)
    if token and tls is None and not is_loopback(args.host):
        _LOGGER.warning("the bearer token travels in plaintext: --insecure on %s", args.host)
    metrics_token = _token(
        getattr(args, "metrics_token_file", None),
        environ,
        "--metrics-token-file",
        METRICS_TOKEN_ENV,
    )
    return SecuritySettings(
        tls=tls, token=token, insecure=args.insecure, metrics_token=metrics_token
    )


def _tls_from_args(args: argparse.Namespace) -> TlsFiles | None:
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise SecurityConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise SecurityConfigError("--tls-cert and --tls-key go together: give both")
    if args.insecure:
        raise SecurityConfigError("--insecure contradicts --tls-cert/--tls-key: give one")
    files = TlsFiles(
        cert=_read_pem(args.tls_cert, "--tls-cert"),
        key=_read_pem(args.tls_key, "--tls-key"),
        client_ca=_read_pem(args.tls_client_ca, "--tls-client-ca")
        if args.tls_client_ca is not None
        else None,
    )
    _check_tls_files(args.tls_cert, args.tls_key, args.tls_client_ca)
    return files


def _read_pem(path: Path, flag: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecurityConfigError(f"{flag} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise SecurityConfigError(f"{flag} {path}: not a PEM file (no -----BEGIN line)")
    return data


def _check_tls_files(cert: Path, key: Path, client_ca: Path | None) -> None:
    """Loads the pair (and the client CA) as OpenSSL will, to say what is wrong, if anything.

    gRPC only reports "Failed to bind to address" for a key that does not
    match its certificate or a file that is no certificate at all, which
    sends the operator after the port instead of the files.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except (ssl.SSLError, OSError, TypeError) as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise SecurityConfigError(
                f"--tls-key {key} does not match the certificate in --tls-cert {cert}"
            ) from None
        raise SecurityConfigError(
            f"--tls-cert {cert} / --tls-key {key}: not a usable certificate and key ({exc})"
        ) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (ssl.SSLError, OSError) as exc:
            raise SecurityConfigError(
                f"--tls-client-ca {client_ca}: not a CA certificate ({exc})"
            ) from None


def _no_password() -> bytes:
    """An encrypted key is refused rather than prompted for at start-up."""
    raise TypeError("the key is encrypted; give an unencrypted key")


def _token(path: Path | None, environ: Mapping[str, str], flag: str, env: str) -> str | None:
    """The token from the file flag (first) or the environment; None when neither is set."""
    if path is not None:
        try:
            token = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecurityConfigError(f"{flag} {path}: {exc}") from None
        if not token:
            raise SecurityConfigError(f"{flag} {path}: the file is empty")
        source = f"{flag} {path}"
    else:
        token = environ.get(env, "").strip()
        if not token:
            return None
        source = env
    if any(ch.isspace() for ch in token) or not token.isascii():
        raise SecurityConfigError(f"{source}: the token must be printable ASCII without spaces")
    return token
