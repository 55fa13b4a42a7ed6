"""What the server admits: at most N calls in flight, and only requests that decode.

grpcio's `maximum_concurrent_rpcs` has had bugs and counts health probes too,
so the server counts calls itself in a server interceptor: a call holds a
slot from its handler's start to its end (a stream: until it closes or is
cancelled), and a call past the limit ends at once with RESOURCE_EXHAUSTED.
The health service is never counted or refused, so probes keep working at
the limit. The count is per process (per worker with --workers N).

The same wrapper decodes the request messages itself: grpcio answers bytes
that are not a valid message (corrupt wire format, a string field that is
not UTF-8) with UNKNOWN "Unexpected DecodeError"; here they get
INVALID_ARGUMENT naming the message type and what was wrong. Wrapping once
per method and decoding where grpcio would have keeps the cost to one extra
coroutine frame per call.
"""

from __future__ import annotations

import argparse
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.ops.refusals import Refusals
from server.rich_status import resource_exhausted

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT_RPCS = 1000
"""Calls and streams one server process runs at once (0 turns the limit off)."""
UNLIMITED_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods never counted nor refused: probes must answer when the server is full."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)
Context = Any  # grpc.aio.ServicerContext
Decode = Callable[[bytes], Any]
Read = Callable[[Any, Context], Any]
"""Turns what grpcio hands the handler (bytes, or an iterator of them) into messages."""


class Admission(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Counts in-flight calls against `limit` (None: no limit) and decodes requests."""

    def __init__(self, limit: int | None, on_refused: Callable[[str], None] | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"the limit must be at least 1, got {limit}")
        self.limit = limit if limit is not None else float("inf")
        self.in_flight = 0
        error = resource_exhausted(
            f"server busy: {limit} concurrent calls and streams already in flight "
            "(--max-concurrent-rpcs); retry with backoff",
            "TOO_MANY_CONCURRENT_RPCS",
        )
        self._busy = (error.grpc_code, error.status.message, error.trailing_metadata)
        self._busy_refusals = Refusals("too_many_rpcs", on_refused)
        self._note = on_refused or _ignore  # metrics: undecodable requests
        # method -> (handler from the continuation, the admitting handler built for it)
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        """The method's handler, wrapped once per method."""
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

    def _wrap(self, handler: Handler) -> Handler:
        decode: Decode | None = handler.request_deserializer
        if handler.request_streaming and handler.response_streaming:
            behavior = self._stream_out(handler.stream_stream, _stream_in(decode, self._note))
            return handler._replace(stream_stream=behavior, request_deserializer=None)
        if handler.request_streaming:
            behavior = self._unary_out(handler.stream_unary, _stream_in(decode, self._note))
            return handler._replace(stream_unary=behavior, request_deserializer=None)
        if handler.response_streaming:
            behavior = self._stream_out(handler.unary_stream, _unary_in(decode))
            return handler._replace(unary_stream=behavior, request_deserializer=None)
        behavior = self._unary_out(handler.unary_unary, _unary_in(decode))
        return handler._replace(unary_unary=behavior, request_deserializer=None)

    async def _refuse(self, context: Context) -> None:
        count = self._busy_refusals.refused()
        if count is not None:
            _LOGGER.warning(
                "at the limit of %d calls in flight: refused %d call(s) since the last report",
                self.limit,
                count,
            )
        await context.abort(*self._busy)

    # The wrappers inline the check and the decoding: one coroutine frame per call.

    def _unary_out(self, behavior: Callable[..., Any], read: Read) -> Callable[..., Any]:
        async def admitted(raw: Any, context: Context) -> Any:
            if self.in_flight >= self.limit:
                await self._refuse(context)
            self.in_flight += 1
            try:
                try:
                    request = read(raw, context)
                except DecodeError as exc:
                    self._note("undecodable_request")
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _undecodable(exc))
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result
            finally:
                self.in_flight -= 1

        return admitted

    def _stream_out(self, behavior: Callable[..., Any], read: Read) -> Callable[..., Any]:
        async def admitted(raw: Any, context: Context) -> AsyncIterator[Any]:
            if self.in_flight >= self.limit:
                await self._refuse(context)
            self.in_flight += 1
            try:
                try:
                    request = read(raw, context)
                except DecodeError as exc:
                    self._note("undecodable_request")
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _undecodable(exc))
                result = behavior(request, context)
                if inspect.isawaitable(result):  # a handler that writes with context.write()
                    await result
                    return
                async for response in result:
                    yield response
            finally:
                self.in_flight -= 1

        return admitted


def _unary_in(decode: Decode | None) -> Read:
    """Decodes a unary request (DecodeError if it cannot be)."""

    def read(raw: Any, context: Context) -> Any:
        return raw if decode is None else decode(raw)

    return read


def _stream_in(decode: Decode | None, note: Callable[[str], None]) -> Read:
    """Decodes each message of a request stream as the handler reads it."""

    def read(raw_iterator: Any, context: Context) -> Any:
        if decode is None:
            return raw_iterator

        async def decoded() -> AsyncIterator[Any]:
            async for raw in raw_iterator:
                try:
                    message = decode(raw)
                except DecodeError as exc:
                    note("undecodable_request")
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _undecodable(exc))
                yield message

        return decoded()

    return read


def _ignore(reason: str) -> None:
    """No metrics: a refusal is only logged."""


def _undecodable(exc: DecodeError) -> str:
    return f"the request is not a valid protobuf message: {exc}"


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


def interceptors(
    limit: int | None, on_refused: Callable[[str], None] | None = None
) -> list[grpc.aio.ServerInterceptor]:
    """The admission interceptor (always: it also maps undecodable requests); limit 0: none.

    `on_refused(reason)` hears of each call it ends ("too_many_rpcs", "undecodable_request").
    """
    return [Admission(limit or None, on_refused)]
