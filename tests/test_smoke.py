"""The server starts on port 0, answers a lookup, and takes helpers' handlers generically."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from whatsapp_errors.server.rpc.registration import GenericOnly
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc


def test_get_error_answers_from_the_embedded_catalog(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    response = stub.GetError(pb.GetErrorRequest(code=131047), timeout=5)
    assert response.error.reason == "Re-engagement message"
    assert response.error.category == pb.CATEGORY_BUSINESS_ACCOUNT
    assert response.catalog_version


def test_library_handlers_go_in_as_generic_handlers_only() -> None:
    """GenericOnly serves what a helper adds generically and drops its registrations.

    grpc.aio charges every accepted call for each registered method, so the
    server hands health, reflection and its own service over generically.
    """
    asyncio.run(_serve_through_generic_only())


async def _serve_through_generic_only() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), GenericOnly(server))
    echo = grpc.unary_unary_rpc_method_handler(_echo)
    GenericOnly(server).add_registered_method_handlers("test.Echo", {"Echo": echo})
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            answer = await check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            registered_only = channel.unary_unary("/test.Echo/Echo")
            try:
                await registered_only(b"x", timeout=5)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNIMPLEMENTED
            else:
                raise AssertionError("a method offered only as registered was served")
    finally:
        await server.stop(None)


async def _echo(request: bytes, context: object) -> bytes:
    return request
