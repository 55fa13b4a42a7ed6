"""Unary-request calls read their one request message under a deadline.

grpc.aio reads a unary call's request before it runs any handler, and a
call whose client half-closes without a message, or never sends one, is
then never answered at all: it is invisible to the token check and to the
admission count (both run in handlers) and pins ~20 KiB until the
connection closes. This interceptor, outermost, turns every unary-request
handler into a streaming-request one that reads the message itself: one
that never comes is answered DEADLINE_EXCEEDED after REQUEST_TIMEOUT, a
call ended without one INVALID_ARGUMENT, and only then does the original
handler (with every inner interceptor's wrapping) run, as before. On the
wire a unary call and a one-message stream are the same.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds a unary call may take to deliver its request message."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)
Context = Any  # grpc.aio.ServicerContext


class RequestArrival(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Reads unary requests under `timeout` seconds; wraps each handler once."""

    def __init__(self, timeout: float | None = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.timeout = timeout or None  # 0: no deadline (a half-close is still answered)
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        """The inner handler, reading its request itself when it is unary."""
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Handler) -> Handler:
        decode = handler.request_deserializer
        serialize = handler.response_serializer
        if handler.response_streaming:
            inner_stream = handler.unary_stream

            async def streaming(requests: Any, context: Context) -> AsyncIterator[Any]:
                result = inner_stream(await self._request(context, decode), context)
                if inspect.isawaitable(result):  # a handler that writes with context.write()
                    await result
                    return
                async for response in result:
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                streaming, request_deserializer=None, response_serializer=serialize
            )
        inner = handler.unary_unary

        async def unary(requests: Any, context: Context) -> Any:
            result = inner(await self._request(context, decode), context)
            return await result if inspect.isawaitable(result) else result

        return grpc.stream_unary_rpc_method_handler(
            unary, request_deserializer=None, response_serializer=serialize
        )

    async def _request(self, context: Context, decode: Callable[[bytes], Any] | None) -> Any:
        """The call's request message (decoded when the handler had a deserialiser)."""
        try:
            async with asyncio.timeout(self.timeout):
                raw = await context.read()
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no request message within {self.timeout:g}s (--request-timeout)",
            )
        if raw is grpc.aio.EOF:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the call ended without a request message"
            )
        if decode is None:
            return raw
        try:
            return decode(raw)
        except DecodeError as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid protobuf message: {exc}",
            )
