"""The per-call wrapper: request ids for the logs, counts and timings for metrics.

`instrument` wraps every servicer method once at start-up. Each call binds
its gRPC context for the log lines' request id (server/ops/logs.py), is
counted and timed into `Metrics` (a `NoMetrics` when metrics are off), and
writes its DEBUG lines. A wrapper per method is cheaper than an aio
interceptor per call (bench/README.md has the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from whatsapp_errors.server.ops.logs import bind_call, request_summary
from whatsapp_errors.server.ops.metrics import LATENCY_BUCKETS, Histogram, Metrics

_LOGGER = logging.getLogger(__name__)

_GRPC_TYPES = {
    (False, False): "unary",
    (True, False): "client_stream",
    (False, True): "server_stream",
    (True, True): "bidi_stream",
}


# ---- handler wrapping --------------------------------------------------------------


def _code_name(context: Any, exc: BaseException | None) -> str:
    """The status an RPC ended with, as grpc_code names it (OK, NOT_FOUND, ...)."""
    code = context.code()
    if code is not None:
        return code.name if isinstance(code, grpc.StatusCode) else str(code)
    if exc is None:
        return "OK"
    if isinstance(exc, _ExpiredError):
        return "DEADLINE_EXCEEDED"
    if isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
        return "DEADLINE_EXCEEDED" if _expired(context) else "CANCELLED"
    return "UNKNOWN"


class _ExpiredError(Exception):
    """Marks a stream that ended because its deadline passed."""


DEADLINE_SLACK_S = 0.01
"""Within this much of its deadline, a call that ended counts as expired.

grpc's deadline timer can end a call a little before `time_remaining()`
reaches 0: under load, streams ended by their deadline still had 0.6-2.3 ms
left when their handler finished, and were counted as OK.
"""


def _expired(context: Any) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= DEADLINE_SLACK_S


class _Recorder:
    """Counts and times one method; label tuples are built once, here."""

    __slots__ = ("_handled", "_hist", "_metrics", "_stub", "method")

    def __init__(self, metrics: Metrics, service: str, method: str, kind: str) -> None:
        self.method = method
        self._metrics = metrics
        self._stub = (service, method, kind)
        self._hist = Histogram(LATENCY_BUCKETS)
        metrics.latency[self._stub] = self._hist
        metrics.started[self._stub] = 0
        self._handled: dict[str, tuple[str, str, str, str]] = {}

    def start(self, context: Any) -> float:
        bind_call(context)
        self._metrics.started[self._stub] += 1
        return time.perf_counter()

    def finish_stream(self, context: Any, began: float) -> None:
        """A response stream ended without an error.

        When a deadline passes, grpc.aio often just ends the request stream, so
        the handler returns normally: the deadline itself says what happened.
        A client's cancel can end it the same way and is then counted as OK.
        """
        self._record(
            context, time.perf_counter() - began, _ExpiredError() if _expired(context) else None
        )

    def finish(self, context: Any, began: float, exc: BaseException | None) -> None:
        self._record(context, time.perf_counter() - began, exc)

    def _record(self, context: Any, elapsed: float, exc: BaseException | None) -> None:
        handled = self._metrics.handled
        code = _code_name(context, exc)
        key = self._handled.get(code)
        if key is None:
            key = self._handled[code] = (*self._stub, code)
        handled[key] = handled.get(key, 0) + 1
        self._hist.observe(elapsed)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug(
                "rpc finished",
                extra={
                    "method": self.method,
                    "code": code,
                    "duration_ms": round(elapsed * 1000, 3),
                    "peer": context.peer(),
                },
            )


def _wrap_unary_response(recorder: _Recorder, method: Callable[..., Any]) -> Callable[..., Any]:
    async def handler(request: Any, context: Any) -> Any:
        began = recorder.start(context)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("rpc started", extra={"method": recorder.method, **_debug(request)})
        try:
            response = await method(request, context)
        except BaseException as exc:
            recorder.finish(context, began, exc)
            raise
        recorder.finish(context, began, None)
        return response

    return handler


def _wrap_stream_response(recorder: _Recorder, method: Callable[..., Any]) -> Callable[..., Any]:
    async def handler(request: Any, context: Any) -> AsyncIterator[Any]:
        began = recorder.start(context)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("rpc started", extra={"method": recorder.method, **_debug(request)})
        try:
            async with contextlib.aclosing(method(request, context)) as responses:
                async for response in responses:
                    yield response
        except BaseException as exc:
            recorder.finish(context, began, exc)
            raise
        recorder.finish_stream(context, began)

    return handler


def _debug(request: Any) -> dict[str, Any]:
    """The request's content for a DEBUG line; streams show no content."""
    if hasattr(request, "__aiter__"):
        return {}
    return {"request": request_summary(request)}


def instrument(servicer: Any, descriptor: Any, metrics: Metrics) -> list[str]:
    """Wraps every method of `servicer` in place (instance attributes shadow the class).

    Each call binds its context for request-id logging and is counted and
    timed into `metrics`. Returns the wrapped method names.
    """
    names = []
    for method in descriptor.methods:
        kind = _GRPC_TYPES[(method.client_streaming, method.server_streaming)]
        recorder = _Recorder(metrics, descriptor.full_name, method.name, kind)
        original = getattr(servicer, method.name)
        wrap = _wrap_stream_response if method.server_streaming else _wrap_unary_response
        wrapped = wrap(recorder, original)
        wrapped.__name__ = method.name
        wrapped.__doc__ = original.__doc__
        setattr(servicer, method.name, wrapped)
        names.append(method.name)
    return names
