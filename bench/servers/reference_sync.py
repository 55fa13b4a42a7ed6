"""A second empty-handler server: grpcio's synchronous server instead of grpc.aio.

Same method paths, shapes and constant answers as bench/reference.py, served
by `grpc.server` with a thread pool. It is not a target's reference (the
issue names grpc.aio); it is here so the benchmark shows what the other
Python gRPC stack costs per call on the same machine, measured by h2load
(bench/h2load.py). `python -m bench.servers.reference_sync --port P`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.servers.reference import OPTIONS, SERVICE, STREAM_RESPONSE, UNARY_RESPONSE
from server.ops import gc_freeze as heap

_LOGGER = logging.getLogger(__name__)

THREADS = 8
"""Handler threads: 16 calls in flight at most wait for one here, never for long."""


def _unary(request: bytes, context: Any) -> bytes:
    return UNARY_RESPONSE


def _stream(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
    for _ in requests:
        yield STREAM_RESPONSE


def build_sync(address: str, methods: dict[str, Any]) -> tuple[grpc.Server, health.HealthServicer]:
    """A sync server with `methods` (name -> handler) of SERVICE, and health, bound to `address`."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=THREADS), options=OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind {address}")
    return server, servicer


def build(address: str) -> tuple[grpc.Server, health.HealthServicer]:
    """The empty-handler sync server bound to `address`."""
    methods = {
        "Classify": grpc.unary_unary_rpc_method_handler(_unary),
        "ClassifyStream": grpc.stream_stream_rpc_method_handler(_stream),
    }
    return build_sync(address, methods)


def serve(
    prog: str, build_server: Callable[[str], tuple[grpc.Server, health.HealthServicer]]
) -> None:
    """`prog --port P`: builds, starts, settles the heap, says SERVING, serves until killed."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server, servicer = build_server(f"127.0.0.1:{args.port}")
    server.start()
    heap.settle()  # as the service does after start-up: no full GC walks what it holds
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    server.wait_for_termination()


def main() -> None:
    """Serves until killed."""
    serve("python -m bench.servers.reference_sync", build)


if __name__ == "__main__":
    main()
