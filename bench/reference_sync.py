"""A second empty-handler server: grpcio's synchronous server instead of grpc.aio.

Same method paths, shapes and constant answers as bench/reference.py, served
by `grpc.server` with a thread pool. It is not a target's reference (the
issue names grpc.aio); it is here so the benchmark shows what the other
Python gRPC stack costs per call on the same machine, measured by h2load
(bench/h2load.py). `python -m bench.reference_sync --port P`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.reference import SERVICE, STREAM_RESPONSE, UNARY_RESPONSE
from server.app import MAX_MESSAGE_BYTES

_LOGGER = logging.getLogger(__name__)

THREADS = 8
"""Handler threads: 16 calls in flight at most wait for one here, never for long."""


def _unary(request: bytes, context: Any) -> bytes:
    return UNARY_RESPONSE


def _stream(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
    for _ in requests:
        yield STREAM_RESPONSE


def build(address: str) -> tuple[grpc.Server, health.HealthServicer]:
    """An empty-handler sync server bound to `address` (options like the real one's)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=THREADS),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Classify": grpc.unary_unary_rpc_method_handler(_unary),
            "ClassifyStream": grpc.stream_stream_rpc_method_handler(_stream),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind {address}")
    return server, servicer


def main() -> None:
    """Serves until killed."""
    parser = argparse.ArgumentParser(prog="python -m bench.reference_sync")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server, servicer = build(f"127.0.0.1:{args.port}")
    server.start()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
