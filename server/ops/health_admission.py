"""Health's methods under admission: Check never counted or refused, Watch under its own cap.

Probes must answer when the server is full, so the admission interceptor
(server/ops/admission.py) counts no health call against its limit and
hands health's handlers here. Check is never limited; a Watch stream,
which a caller can open without a token, takes a place under a small cap
of its own (`--max-health-watches`) and is refused with RESOURCE_EXHAUSTED
past it. Both read their request under the deadline, as the admission
wrapper reads every unary request (server/ops/arrival.py), and answer
bytes that are no request with INVALID_ARGUMENT.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from whatsapp_errors.server.ops.arrival import ArrivalClock
from whatsapp_errors.server.ops.decoding import Context, Decode, undecodable
from whatsapp_errors.server.ops.refusals import Refusals
from whatsapp_errors.server.rich_status import resource_exhausted

_LOGGER = logging.getLogger("whatsapp_errors.server.ops.admission")
"""Admission's logger: its refusals are logged under one name, whichever module refuses."""

DEFAULT_MAX_HEALTH_WATCHES = 64
"""Health Watch streams at once (probes use Check, which is never limited)."""

Handler = Any  # grpc.RpcMethodHandler (grpc ships no type hints)


class HealthAdmission:
    """Health's handlers, each reading its request under the deadline; Watch capped."""

    def __init__(
        self, health_watches: int, clock: ArrivalClock, on_refused: Callable[[str], None] | None
    ) -> None:
        self.watches = 0
        self.health_watches = health_watches
        self.clock = clock
        watch_error = resource_exhausted(
            f"{health_watches} health Watch streams already open (--max-health-watches); "
            "probes can use Check, which is never limited",
            "TOO_MANY_HEALTH_WATCHES",
        )
        self._watch_busy = (
            watch_error.grpc_code,
            watch_error.status.message,
            watch_error.trailing_metadata,
        )
        self._watch_refusals = Refusals("too_many_health_watches", on_refused)

    def wrap(self, handler: Handler) -> Handler:
        """Health's methods, reading their request under the deadline; Watch capped."""
        if handler.request_streaming:
            return handler
        clock, decode = self.clock, handler.request_deserializer
        serialize = handler.response_serializer
        if handler.response_streaming:
            watch = self._watch(handler.unary_stream)

            async def watched(requests: Any, context: Context) -> AsyncIterator[Any]:
                request = await _health_request(clock, decode, context)
                async for response in watch(request, context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(watched, None, serialize)
        check = handler.unary_unary

        async def checked_health(requests: Any, context: Context) -> Any:
            return await check(await _health_request(clock, decode, context), context)

        return grpc.stream_unary_rpc_method_handler(checked_health, None, serialize)

    def _watch(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        """Health Watch, counted against its own cap (it answers without a token)."""

        async def watched(request: Any, context: Context) -> AsyncIterator[Any]:
            if self.watches >= self.health_watches:
                count = self._watch_refusals.refused()
                if count is not None:
                    _LOGGER.warning(
                        "at the limit of %d health Watch streams: refused %d since the last report",
                        self.health_watches,
                        count,
                    )
                await context.abort(*self._watch_busy)
            self.watches += 1
            try:
                result = behavior(request, context)
                if inspect.isawaitable(result):  # grpcio's Watch writes with context.write()
                    await result
                    return
                async for response in result:
                    yield response
            finally:
                self.watches -= 1

        return watched


async def _health_request(clock: ArrivalClock, decode: Decode | None, context: Context) -> Any:
    raw = await clock.read(context)
    try:
        return raw if decode is None else decode(raw)
    except DecodeError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, undecodable(exc))
