"""Putting the services on the server: generic handlers only, bytes allowed out.

Our service goes in through `add_servicer`, which lets Classify and
ClassifyStream answer with pre-serialised bytes (server/rpc/wire.py);
health and reflection go in through `GenericOnly`. Every name comes from
the generated descriptor.
"""

from __future__ import annotations

from typing import Any

import grpc

from whatsapp.errors.v1 import error_catalog_pb2 as pb
from whatsapp.errors.v1 import error_catalog_pb2_grpc as pb_grpc

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


class _Capture:
    """Stands in for a server to catch the generated method handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.handlers.update(handlers)


def add_servicer(servicer: pb_grpc.ErrorCatalogServiceServicer, server: grpc.aio.Server) -> None:
    """Like the generated add_..._to_server, with bytes allowed out of RAW_METHODS.

    Adds a generic handler only, never registered methods: see `GenericOnly`
    for what each registered method costs every call.
    """
    capture = _Capture()
    pb_grpc.add_ErrorCatalogServiceServicer_to_server(servicer, capture)
    handlers = dict(capture.handlers)
    for method in RAW_METHODS:
        handlers[method] = handlers[method]._replace(response_serializer=serialize)
    generic = grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)
    server.add_generic_rpc_handlers((generic,))
