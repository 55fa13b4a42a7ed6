"""What the server admits: N calls in flight, streams that keep sending, requests that decode.

grpcio's `maximum_concurrent_rpcs` has had bugs and counts health probes too,
so the server counts calls itself in a server interceptor: a call holds a
slot from its handler's start to its end (a stream: until it closes or is
cancelled), and a call past the limit ends at once with RESOURCE_EXHAUSTED.
The count is per process (per worker with --workers N); how many of the
slots one connection can take is capped by the transport
(`grpc.max_concurrent_streams`, server/app.py).

A slot must not be held for nothing: a stream that sends no request
message for `--stream-idle-timeout` seconds is ended with UNAVAILABLE (the
client library opens a new one; nothing was in flight). Health is never
counted against the limit, so probes answer when the server is full
(server/ops/health_admission.py: Watch streams have their own small cap).

The same wrapper decodes the request messages itself: grpcio answers bytes
that are not a valid message (corrupt wire format, a string field that is
not UTF-8) with UNKNOWN "Unexpected DecodeError"; here they get
INVALID_ARGUMENT naming the message type and what was wrong. A method may
also have a check on the raw bytes (server/rpc/wire_guard.py) that refuses
a request before it is parsed. Wrapping once per method and decoding where
grpcio would have keeps the cost to one extra coroutine frame per call.
"""

from __future__ import annotations

import argparse
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from whatsapp_errors.server.ops.arrival import DEFAULT_REQUEST_TIMEOUT, ArrivalClock
from whatsapp_errors.server.ops.decoding import (
    Check,
    Decode,
    Read,
    checked,
    stream_in,
    unary_in,
    undecodable,
)
from whatsapp_errors.server.ops.health_admission import DEFAULT_MAX_HEALTH_WATCHES, HealthAdmission
from whatsapp_errors.server.ops.refusals import Refusals
from whatsapp_errors.server.rich_status import ServiceError, resource_exhausted

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT_RPCS = 1000
"""Calls and streams one server process runs at once (0 turns the limit off)."""
DEFAULT_STREAM_IDLE_SECONDS = 60.0
"""A stream waiting this long for its next request message is ended."""
UNLIMITED_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods never counted against the main limit: probes must answer when the server is full."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)
Context = Any  # grpc.aio.ServicerContext


class Admission(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Counts in-flight calls against `limit` (None: no limit) and decodes requests."""

    def __init__(
        self,
        limit: int | None,
        on_refused: Callable[[str], None] | None = None,
        checks: Mapping[str, Check] | None = None,
        idle_timeout: float | None = DEFAULT_STREAM_IDLE_SECONDS,
        health_watches: int = DEFAULT_MAX_HEALTH_WATCHES,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"the limit must be at least 1, got {limit}")
        self.limit = limit if limit is not None else float("inf")
        self.in_flight = 0
        self.idle_timeout = idle_timeout or None
        self.clock = ArrivalClock(request_timeout)
        """Reads unary requests under their deadline (server/ops/arrival.py)."""
        error = resource_exhausted(
            f"server busy: {limit} concurrent calls and streams already in flight "
            "(--max-concurrent-rpcs); retry with backoff",
            "TOO_MANY_CONCURRENT_RPCS",
        )
        self._busy = (error.grpc_code, error.status.message, error.trailing_metadata)
        self._busy_refusals = Refusals("too_many_rpcs", on_refused)
        self.health = HealthAdmission(health_watches, self.clock, on_refused)
        """Health's methods: Check never limited, Watch under its own cap."""
        self._note = on_refused or _ignore  # metrics: undecodable, unparsed, idle
        self._checks = dict(checks or {})
        """Per method: a look at the raw bytes before they are parsed (server/rpc/wire_guard.py)."""
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
        if not method.startswith(UNLIMITED_PREFIXES):
            wrapped = self._wrap(handler, self._checks.get(method))
        else:  # health: Check never limited, Watch under its own cap
            wrapped = self.health.wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Handler, check: Check | None) -> Handler:
        """The admitting handler; a unary-request one becomes a streaming-request one.

        grpc.aio never runs a unary handler whose message does not come
        (server/ops/arrival.py), so the wrapper reads it itself.
        """
        decode: Decode | None = handler.request_deserializer
        if decode is not None and check is not None:
            decode = checked(check, decode)
        serialize = handler.response_serializer
        if handler.request_streaming:
            read = stream_in(decode, self._note, self.idle_timeout)
            if handler.response_streaming:
                behavior = self._stream_out(handler.stream_stream, read, arrive=False)
                return handler._replace(stream_stream=behavior, request_deserializer=None)
            behavior = self._unary_out(handler.stream_unary, read, arrive=False)
            return handler._replace(stream_unary=behavior, request_deserializer=None)
        if handler.response_streaming:
            behavior = self._stream_out(handler.unary_stream, unary_in(decode), arrive=True)
            return grpc.stream_stream_rpc_method_handler(behavior, None, serialize)
        behavior = self._unary_out(handler.unary_unary, unary_in(decode), arrive=True)
        return grpc.stream_unary_rpc_method_handler(behavior, None, serialize)

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

    def _unary_out(
        self, behavior: Callable[..., Any], read: Read, arrive: bool
    ) -> Callable[..., Any]:
        clock = self.clock

        async def admitted(raw: Any, context: Context) -> Any:
            if arrive:  # a unary request: its message first, then a slot
                raw = await clock.read(context)
            if self.in_flight >= self.limit:
                await self._refuse(context)
            self.in_flight += 1
            try:
                try:
                    request = read(raw, context)
                except DecodeError as exc:
                    self._note("undecodable_request")
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, undecodable(exc))
                except ServiceError as exc:
                    self._note("unparsed_request")
                    await context.abort(exc.grpc_code, exc.status.message, exc.trailing_metadata)
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result
            finally:
                self.in_flight -= 1

        return admitted

    def _stream_out(
        self, behavior: Callable[..., Any], read: Read, arrive: bool
    ) -> Callable[..., Any]:
        clock = self.clock

        async def admitted(raw: Any, context: Context) -> AsyncIterator[Any]:
            if arrive:
                raw = await clock.read(context)
            if self.in_flight >= self.limit:
                await self._refuse(context)
            self.in_flight += 1
            try:
                try:
                    request = read(raw, context)
                except DecodeError as exc:
                    self._note("undecodable_request")
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, undecodable(exc))
                except ServiceError as exc:
                    self._note("unparsed_request")
                    await context.abort(exc.grpc_code, exc.status.message, exc.trailing_metadata)
                result = behavior(request, context)
                if inspect.isawaitable(result):  # a handler that writes with context.write()
                    await result
                    return
                async for response in result:
                    yield response
            finally:
                self.in_flight -= 1

        return admitted


def _ignore(reason: str) -> None:
    """No metrics: a refusal is only logged."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that share the server out: calls in flight, idle streams, health watches."""
    parser.add_argument(
        "--max-concurrent-rpcs",
        type=int,
        default=DEFAULT_MAX_CONCURRENT_RPCS,
        metavar="N",
        help="calls and streams in flight per process before new ones get RESOURCE_EXHAUSTED "
        f"(default {DEFAULT_MAX_CONCURRENT_RPCS}; 0 turns the limit off; health is never limited)",
    )
    parser.add_argument(
        "--stream-idle-timeout",
        type=float,
        default=DEFAULT_STREAM_IDLE_SECONDS,
        metavar="SECONDS",
        help="end a stream that sends no request message for this long, with UNAVAILABLE "
        f"(default {DEFAULT_STREAM_IDLE_SECONDS:g}; 0: never)",
    )
    parser.add_argument(
        "--max-health-watches",
        type=int,
        default=DEFAULT_MAX_HEALTH_WATCHES,
        metavar="N",
        help=f"health Watch streams open at once (default {DEFAULT_MAX_HEALTH_WATCHES}); "
        "health Check is never limited",
    )


def interceptors(
    limit: int | None,
    on_refused: Callable[[str], None] | None = None,
    checks: Mapping[str, Check] | None = None,
    idle_timeout: float | None = DEFAULT_STREAM_IDLE_SECONDS,
    health_watches: int = DEFAULT_MAX_HEALTH_WATCHES,
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
) -> list[grpc.aio.ServerInterceptor]:
    """The admission interceptor (always: it also maps undecodable requests); limit 0: none.

    `on_refused(reason)` hears of each call it ends ("too_many_rpcs", "undecodable_request",
    "unparsed_request", "idle_stream", "too_many_health_watches").
    """
    return [
        Admission(limit or None, on_refused, checks, idle_timeout, health_watches, request_timeout)
    ]
