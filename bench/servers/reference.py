"""The reference server: grpc.aio with handlers that do no work.

It serves the same method paths and shapes as the real service (unary
Classify, bidi ClassifyStream, bytes in and out, no (de)serialisation) plus
health, so the one load generator drives both, and the difference between
the two is the cost of the service itself. It answers with constants
(bench/answers.py EMPTY_UNARY, EMPTY_STREAM), the bytes the load generators
check for. `python -m bench.servers.reference --port P`.

Two flags rebuild, one at a time, what the service's unary path pays
beyond the bare handler, so `python -m bench.probes.instructions --steps`
can count each: `--classify-as stream-unary` serves Classify as a
one-message request stream read by the handler, as the service's admission
does (server/ops/arrival.py), and `--interceptor` adds one pass-through
`grpc.aio` server interceptor, as the service's admission is one.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.answers import EMPTY_STREAM, EMPTY_UNARY
from bench.names import SERVICE
from whatsapp_errors.server.app import MAX_MESSAGE_BYTES
from whatsapp_errors.server.rpc.registration import GenericOnly

OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
"""The real server's message limits (the benchmark's big batches need them)."""


async def _unary(request: bytes, context: Any) -> bytes:
    return EMPTY_UNARY


async def _stream_unary(requests: Any, context: Any) -> bytes:
    await context.read()  # the one request message, as the service's admission reads it
    return EMPTY_UNARY


class _PassThrough(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """An interceptor that only continues: the cost of having one."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        return await continuation(handler_call_details)


async def _stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for _ in requests:
        yield EMPTY_STREAM


def build(
    address: str, classify_as: str = "unary", interceptor: bool = False
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """An empty-handler server bound to `address` (options like the real one's)."""
    interceptors = [_PassThrough()] if interceptor else []
    server = grpc.aio.server(options=OPTIONS, interceptors=interceptors)
    classify = (
        grpc.stream_unary_rpc_method_handler(_stream_unary)
        if classify_as == "stream-unary"
        else grpc.unary_unary_rpc_method_handler(_unary)
    )
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Classify": classify,
            "ClassifyStream": grpc.stream_stream_rpc_method_handler(_stream),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    servicer = health.aio.HealthServicer()
    # Health as a generic handler only, as the service adds it (server/app.py, GenericOnly):
    # a registered method costs every call, and the ceiling must not pay what we don't.
    health_pb2_grpc.add_HealthServicer_to_server(servicer, GenericOnly(server))
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind {address}")
    return server, servicer


async def _serve(address: str, classify_as: str, interceptor: bool) -> None:
    server, servicer = build(address, classify_as, interceptor)
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


def main() -> None:
    """Serves until killed."""
    parser = argparse.ArgumentParser(prog="python -m bench.servers.reference")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--classify-as", choices=("unary", "stream-unary"), default="unary")
    parser.add_argument("--interceptor", action="store_true", help="one pass-through interceptor")
    args = parser.parse_args()
    asyncio.run(_serve(f"127.0.0.1:{args.port}", args.classify_as, args.interceptor))


if __name__ == "__main__":
    main()
