"""The server starts on port 0 and answers the most basic lookup."""

from __future__ import annotations

from whatsapp.errors.v1 import error_catalog_pb2 as pb
from whatsapp.errors.v1 import error_catalog_pb2_grpc as pb_grpc


def test_get_error_answers_from_the_embedded_catalog(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    response = stub.GetError(pb.GetErrorRequest(code=131047), timeout=5)
    assert response.error.reason == "Re-engagement message"
    assert response.error.category == pb.CATEGORY_BUSINESS_ACCOUNT
    assert response.catalog_version
