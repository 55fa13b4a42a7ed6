"""Our own cap on in-flight RPCs: over it, RESOURCE_EXHAUSTED with a clear message.

grpcio's `maximum_concurrent_rpcs` has had bugs and counts health probes too,
so the server counts calls itself in a server interceptor. A call holds a
slot from its handler's start to its end (a stream: until it closes or is
cancelled); the health service is never counted or refused, so probes keep
working at the limit. The count is per process (per worker with --workers N).
"""

from __future__ import annotations

import argparse
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from server.status import resource_exhausted

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT_RPCS = 1000
"""Calls and streams one server process runs at once (0 turns the limit off)."""
UNLIMITED_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods never counted nor refused: probes must answer when the server is full."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)


class ConcurrencyLimit(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Counts in-flight calls; a call past `limit` ends at once with RESOURCE_EXHAUSTED."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the limit must be at least 1, got {limit}")
        self.limit = limit
        self.in_flight = 0
        error = resource_exhausted(
            f"server busy: {limit} concurrent calls and streams already in flight "
            "(--max-concurrent-rpcs); retry with backoff",
            "TOO_MANY_CONCURRENT_RPCS",
        )
        self._code = error.grpc_code
        self._message = error.status.message
        self._trailers = error.trailing_metadata
        # method -> (handler from the continuation, the counting handler built for it)
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        """The method's handler, wrapped once per method so each call is counted."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: UNIMPLEMENTED, nothing to count
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = handler if method.startswith(UNLIMITED_PREFIXES) else self._wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    async def _refuse(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        _LOGGER.warning("refused a call: %d calls in flight (limit %d)", self.in_flight, self.limit)
        await context.abort(self._code, self._message, self._trailers)

    def _wrap(self, handler: Handler) -> Handler:
        if handler.response_streaming:
            kind = "stream_stream" if handler.request_streaming else "unary_stream"
            return handler._replace(**{kind: self._counted_stream(getattr(handler, kind))})
        kind = "stream_unary" if handler.request_streaming else "unary_unary"
        return handler._replace(**{kind: self._counted_unary(getattr(handler, kind))})

    def _counted_unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if self.in_flight >= self.limit:
                await self._refuse(context)
            self.in_flight += 1
            try:
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result
            finally:
                self.in_flight -= 1

        return counted

    def _counted_stream(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            if self.in_flight >= self.limit:
                await self._refuse(context)
            self.in_flight += 1
            try:
                result = behavior(request, context)
                if inspect.isawaitable(result):  # a handler that writes with context.write()
                    await result
                    return
                async for response in result:
                    yield response
            finally:
                self.in_flight -= 1

        return counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The --max-concurrent-rpcs flag."""
    parser.add_argument(
        "--max-concurrent-rpcs",
        type=int,
        default=DEFAULT_MAX_CONCURRENT_RPCS,
        metavar="N",
        help="calls and streams in flight per process before new ones get RESOURCE_EXHAUSTED "
        f"(default {DEFAULT_MAX_CONCURRENT_RPCS}; 0 turns the limit off; health is never limited)",
    )


def interceptors(limit: int | None) -> list[grpc.aio.ServerInterceptor]:
    """The limit's interceptor, or none when the limit is off (None or 0)."""
    return [ConcurrencyLimit(limit)] if limit else []
