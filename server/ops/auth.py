"""The bearer-token check: a server interceptor, constant-time, health left open.

With a token configured (`--token-file` or WAERR_TOKEN, see
server/ops/security.py), every call but health must carry `authorization:
Bearer <token>`; a refused call is answered UNAUTHENTICATED without its
request bytes ever being parsed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from whatsapp_errors.server.ops.refusals import Refusals

_LOGGER = logging.getLogger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods callable without the token: health probes carry no secrets."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)


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
