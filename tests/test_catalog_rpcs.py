"""GetError, BatchGetErrors, ListErrors, ListCategories and health over a real channel.

Covers the AIP shapes (order kept, paging, limits) and the rich error statuses
(google.rpc.Status details) callers rely on.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc


def _details(error: grpc.RpcError) -> dict[str, Any]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    found: dict[str, Any] = {}
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


def _all_pages(stub: pb_grpc.ErrorCatalogServiceStub, **filters: Any) -> list[pb.ErrorInfo]:
    found: list[pb.ErrorInfo] = []
    token = ""
    while True:
        page = stub.ListErrors(pb.ListErrorsRequest(page_token=token, **filters), timeout=5)
        found.extend(page.errors)
        token = page.next_page_token
        if not token:
            return found


def test_get_error_returns_the_entry_and_version(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    response = stub.GetError(pb.GetErrorRequest(code=132015), timeout=5)
    assert response.error.reason == "Template Paused"
    assert response.error.category == pb.CATEGORY_TEMPLATE
    assert response.error.retry_strategy == pb.RETRY_STRATEGY_FIX_TEMPLATE
    assert not response.error.retryable
    assert response.catalog_version


def test_unknown_code_is_not_found_with_error_info(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetError(pb.GetErrorRequest(code=987654), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "987654" in caught.value.details()
    info = _details(caught.value)["ErrorInfo"]
    assert info.reason == "CODE_NOT_FOUND"
    assert info.domain == "whatsapp.errors.v1"
    assert info.metadata["codes"] == "987654"


def test_negative_code_is_invalid_argument(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetError(pb.GetErrorRequest(code=-1), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _details(caught.value)["BadRequest"].field_violations[0].field == "code"


def test_batch_get_keeps_order_and_duplicates(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    codes = [132001, 75, 131047, 75, 115003]
    response = stub.BatchGetErrors(pb.BatchGetErrorsRequest(codes=codes), timeout=5)
    assert [e.code for e in response.errors] == codes


@pytest.mark.parametrize(
    ("codes", "field"),
    [([], "codes"), ([131047] * 1001, "codes"), ([131047, -5], "codes[1]")],
    ids=["empty", "over-limit", "negative"],
)
def test_batch_get_rejects_bad_batches(
    stub: pb_grpc.ErrorCatalogServiceStub, codes: list[int], field: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.BatchGetErrors(pb.BatchGetErrorsRequest(codes=codes), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = _details(caught.value)["BadRequest"].field_violations
    assert [v.field for v in violations] == [field]


def test_batch_get_names_every_unknown_code(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.BatchGetErrors(pb.BatchGetErrorsRequest(codes=[131047, 999001, 999002]), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert _details(caught.value)["ErrorInfo"].metadata["codes"] == "999001,999002"


def test_list_errors_pages_through_every_listing_once(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    first = stub.ListErrors(pb.ListErrorsRequest(), timeout=5)
    assert len(first.errors) == 50  # the documented default page size
    assert first.next_page_token
    everything = _all_pages(stub, page_size=7)
    assert len(everything) == first.total_size
    keys = [(e.code, e.category) for e in everything]
    assert len(set(keys)) == len(keys)
    assert [(e.code, e.category) for e in _all_pages(stub, page_size=500)] == keys


def test_list_errors_caps_the_page_size(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    page = stub.ListErrors(pb.ListErrorsRequest(page_size=100_000), timeout=5)
    assert len(page.errors) == min(500, page.total_size)


def test_last_page_has_no_token(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    page = stub.ListErrors(pb.ListErrorsRequest(category=pb.CATEGORY_NETWORK), timeout=5)
    assert [e.code for e in page.errors] == [113001, 113003, 113004]
    assert page.next_page_token == ""
    assert page.total_size == 3


def test_list_errors_filters_by_text_and_source(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    found = _all_pages(stub, query="rate limit")
    assert {130429, 131048, 133016} <= {e.code for e in found}
    for entry in found:
        text = f"{entry.reason} {entry.description} {entry.recommended_action}".lower()
        assert "rate" in text and "limit" in text, entry.code
    meta = _all_pages(stub, source=pb.SOURCE_META)
    assert meta and all(e.source == pb.SOURCE_META for e in meta)
    assert 131026 in {e.code for e in meta}
    assert _all_pages(stub, query="no such words anywhere zzz") == []


def test_query_matches_translations_and_codes(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    assert {e.code for e in _all_pages(stub, query="top up")} >= {115001, 115005}
    assert [e.code for e in _all_pages(stub, query="131047")] == [131047]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListErrorsRequest(page_size=-1), "page_size"),
        (pb.ListErrorsRequest(page_token="not-a-token!"), "page_token"),
        (pb.ListErrorsRequest(page_token="eyJvIjogLTF9"), "page_token"),
    ],
    ids=["negative-page-size", "garbage-token", "forged-token"],
)
def test_list_errors_rejects_bad_paging(
    stub: pb_grpc.ErrorCatalogServiceStub, request_: pb.ListErrorsRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListErrors(request_, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _details(caught.value)["BadRequest"].field_violations[0].field == field


def test_token_from_other_filters_is_rejected(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    token = stub.ListErrors(pb.ListErrorsRequest(page_size=2), timeout=5).next_page_token
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListErrors(
            pb.ListErrorsRequest(page_size=2, page_token=token, category=pb.CATEGORY_QUOTA),
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "different filters" in caught.value.details()


def test_list_categories_counts_codes(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    response = stub.ListCategories(pb.ListCategoriesRequest(), timeout=5)
    by_category = {c.category: c for c in response.categories}
    assert len(by_category) == 11
    assert by_category[pb.CATEGORY_QUOTA].document_code_count == 6
    assert by_category[pb.CATEGORY_SUBSCRIPTION].document_code_count == 1
    assert sum(c.document_code_count for c in response.categories) == 69  # 115006 twice
    assert all(c.code_count >= c.document_code_count for c in response.categories)


def test_health_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "whatsapp.errors.v1.ErrorCatalogService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
