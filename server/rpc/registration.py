"""Putting the services on the server: generic handlers only, bytes allowed out.

Our service goes in through `add_servicer`, which lets Classify and
ClassifyStream answer with pre-serialised bytes (server/rpc/wire.py);
health and reflection go in through `GenericOnly`. Every name comes from
the generated descriptor.
"""

from __future__ import annotations

from typing import Any

import grpc

from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["ErrorCatalogService"]
"""The service's descriptor: its full name and methods, spelled once, by protoc."""
RAW_METHODS = ("Classify", "ClassifyStream")
"""Methods whose handlers may return pre-serialised bytes."""


class GenericOnly:
    """A server as library helpers see it: their handlers go in as generic handlers only.

    grpc.aio's serving loop keeps one pending request per registered method
    and, for every call it accepts, runs `asyncio.wait` over all of them, so
    each registered method costs every call a little (counted with
    `make bench-instructions`; bench/README.md). Generic handlers serve the
    same methods.
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        """Dropped on purpose: the generic handler added with it serves these methods."""


def serialize(response: Any) -> bytes:
    """Response serialiser for RAW_METHODS: bytes pass through, messages serialise."""
    if type(response) is bytes:
        return response
    data: bytes = response.SerializeToString()
    return data


_HANDLER_FACTORIES: dict[tuple[bool, bool], Any] = {  # (client streams, server streams)
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def method_handlers(servicer: pb_grpc.ErrorCatalogServiceServicer) -> dict[str, Any]:
    """The servicer's handlers, built from the descriptor as the generated code builds them.

    Not taken from the generated add_..._to_server: stubs from grpcio-tools
    1.62 (the ones shipped, so the client runs on old grpcio) register a
    generic handler only, newer ones registered methods too, and neither
    exposes the handlers themselves.
    """
    handlers: dict[str, Any] = {}
    for method in SERVICE.methods:
        request, response = (getattr(pb, t.name) for t in (method.input_type, method.output_type))
        factory = _HANDLER_FACTORIES[method.client_streaming, method.server_streaming]
        handlers[method.name] = factory(
            getattr(servicer, method.name),
            request_deserializer=request.FromString,
            response_serializer=serialize
            if method.name in RAW_METHODS
            else response.SerializeToString,
        )
    return handlers


def add_servicer(servicer: pb_grpc.ErrorCatalogServiceServicer, server: grpc.aio.Server) -> None:
    """Like the generated add_..._to_server, with bytes allowed out of RAW_METHODS.

    Adds a generic handler only, never registered methods: see `GenericOnly`
    for what each registered method costs every call.
    """
    generic = grpc.method_handlers_generic_handler(SERVICE.full_name, method_handlers(servicer))
    server.add_generic_rpc_handlers((generic,))
