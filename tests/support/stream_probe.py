"""A server interceptor that watches the streaming handlers from inside the server.

Tests of cancellation need to see what the server did, not what the client
saw: how many request messages the handler pulled, how many answers it
produced, and whether the handler ended (rather than working on for a client
that has gone). Installed through `ServerConfig.interceptors`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

WATCHED = ("/ClassifyStream", "/SummarizeErrors")


class StreamProbe(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Counts request messages read and answers sent by the watched handlers."""

    def __init__(self) -> None:
        self.requests_read = 0
        self.responses_sent = 0
        self.cancelled = 0
        self.ended = threading.Event()
        """Set each time a watched handler returns, fails or is cancelled."""

    def reset(self) -> None:
        """Forgets earlier calls (tests run one at a time)."""
        self.requests_read = self.responses_sent = self.cancelled = 0
        self.ended.clear()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """Wraps the watched methods' handlers; passes every other one through."""
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.endswith(WATCHED):
            return handler
        if handler.response_streaming:
            return handler._replace(stream_stream=self._bidi(handler.stream_stream))
        return handler._replace(stream_unary=self._client_stream(handler.stream_unary))

    async def _reading(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            self.requests_read += 1
            yield request

    def _bidi(self, inner: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def watched(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            try:
                async for response in inner(self._reading(requests), context):
                    self.responses_sent += 1
                    yield response
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.ended.set()

        return watched

    def _client_stream(self, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def watched(requests: AsyncIterator[Any], context: Any) -> Any:
            try:
                response = await inner(self._reading(requests), context)
                self.responses_sent += 1
                return response
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.ended.set()

        return watched
