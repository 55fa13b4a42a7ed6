"""The reference server: grpc.aio with handlers that do no work.

It serves the same method paths and shapes as the real service (unary
Classify, bidi ClassifyStream, bytes in and out, no (de)serialisation) plus
health, so the one load generator drives both, and the difference between
the two is the cost of the service itself. It answers with constants
(bench/answers.py EMPTY_UNARY, EMPTY_STREAM), the bytes the load generators
check for. `python -m bench.servers.reference --port P`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
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


async def _stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for _ in requests:
        yield EMPTY_STREAM


def build(address: str) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """An empty-handler server bound to `address` (options like the real one's)."""
    server = grpc.aio.server(options=OPTIONS)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Classify": grpc.unary_unary_rpc_method_handler(_unary),
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


async def _serve(address: str) -> None:
    server, servicer = build(address)
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


def main() -> None:
    """Serves until killed."""
    parser = argparse.ArgumentParser(prog="python -m bench.servers.reference")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(_serve(f"127.0.0.1:{args.port}"))


if __name__ == "__main__":
    main()
