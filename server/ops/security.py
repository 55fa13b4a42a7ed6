"""Transport security and caller authentication: TLS, mutual TLS, a bearer token.

The server is plaintext on 127.0.0.1 unless told otherwise. Binding any other
address needs TLS (`--tls-cert/--tls-key`) or an explicit `--insecure`;
`--tls-client-ca` turns on mutual TLS (a client certificate signed by that CA
is required). A bearer token (`--token-file` or `WAERR_TOKEN`) is checked by a
server interceptor in constant time; the health service stays open so probes
need no secret, while reflection needs the token like every other method.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from server.ops.logs import Refusals

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


class BearerTokenAuth(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Requires `authorization: Bearer <token>` on every call but health."""

    def __init__(self, token: str, on_refused: Callable[[str], None] | None = None) -> None:
        if not token:
            raise ValueError("the token must not be empty")
        self._expected = token.encode()
        self._refusals = Refusals("unauthenticated", on_refused)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        """The method's handler for a caller with the token; a refusing one otherwise."""
        method: str = handler_call_details.method
        if method.startswith(OPEN_PREFIXES):
            return await continuation(handler_call_details)
        problem = self._problem(handler_call_details.invocation_metadata)
        handler = await continuation(handler_call_details)
        if problem is None or handler is None:
            return handler  # unknown methods stay UNIMPLEMENTED
        self._log_refusal(method, problem)
        return _refusing(handler, problem)

    def _log_refusal(self, method: str, problem: str) -> None:
        count = self._refusals.refused()
        if count is not None:
            _LOGGER.warning(
                "refused %d unauthenticated call(s) since the last report; latest: %s: %s",
                count,
                method,
                problem,
            )

    def _problem(self, metadata: Any) -> str | None:
        """None when the caller sent the right token, else what is wrong."""
        values = [value for key, value in metadata or () if key == "authorization"]
        if not values:
            return (
                "missing credentials: this server requires metadata `authorization: Bearer <token>`"
            )
        value = values[0]
        raw = value.encode() if isinstance(value, str) else bytes(value)
        scheme, _, supplied = raw.partition(b" ")
        if scheme.lower() != b"bearer" or not supplied.strip():
            return "the authorization metadata must be `Bearer <token>`"
        if not hmac.compare_digest(supplied.strip(), self._expected):
            return "invalid bearer token"
        return None


def _refusing(handler: Handler, message: str) -> Handler:
    """A handler of the same shape that ends the call with UNAUTHENTICATED.

    It never deserialises the request: an unauthenticated caller's bytes are not parsed.
    """

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover  # makes this an async generator

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse_stream)
    return grpc.unary_unary_rpc_method_handler(refuse)


def interceptors(
    token: str | None, on_refused: Callable[[str], None] | None = None
) -> list[grpc.aio.ServerInterceptor]:
    """The token check's interceptor, or none when no token is configured.

    `on_refused("unauthenticated")` hears of each call it ends.
    """
    return [BearerTokenAuth(token, on_refused)] if token else []


# ---- command line -------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The TLS, --insecure and token flags."""
    group = parser.add_argument_group("security (README: Security and limits)")
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
