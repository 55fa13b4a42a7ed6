"""The running server serves the provider's document exactly, record by record.

The expectations come from parsing the document itself (tests/seed_document.py),
never from the catalog file, so a catalog edit that drifts from the document
fails here.
"""

from __future__ import annotations

import pytest

from tests.support.seed_document import (
    NO_ACTION,
    SEED_COPY,
    SHARED_SEED,
    SeedCategory,
    SeedRecord,
    load_seed,
)
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

CATEGORIES, RECORDS = load_seed()


def _category_enum(display_name: str) -> pb.Category.ValueType:
    name = "CATEGORY_" + display_name.removesuffix(" Errors").upper().replace(" ", "_")
    return pb.Category.Value(name)


def _action(record: SeedRecord) -> str:
    return "" if record.recommended_action == NO_ACTION else record.recommended_action


def _listings(
    stub: pb_grpc.ErrorCatalogServiceStub, category: pb.Category.ValueType
) -> list[pb.ErrorInfo]:
    found: list[pb.ErrorInfo] = []
    token = ""
    while True:
        page = stub.ListErrors(
            pb.ListErrorsRequest(
                category=category,
                source=pb.SOURCE_PROVIDER_DOCUMENT,
                page_size=500,
                page_token=token,
            ),
            timeout=5,
        )
        assert page.catalog_version
        found.extend(page.errors)
        token = page.next_page_token
        if not token:
            return found


def test_committed_copy_matches_the_shared_document() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("the shared seed folder is not beside this checkout")
    assert SEED_COPY.read_bytes() == SHARED_SEED.read_bytes()


def test_document_shape_is_what_the_mission_describes() -> None:
    codes = {code for record in RECORDS for code in record.codes}
    assert len(CATEGORIES) == 11
    assert len(codes) == 68
    assert any(record.first_code != record.last_code for record in RECORDS)


def test_categories_are_served_with_exact_descriptions_and_counts(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    response = stub.ListCategories(pb.ListCategoriesRequest(), timeout=5)
    served = {c.category: c for c in response.categories}
    assert [c.display_name for c in response.categories] == [c.display_name for c in CATEGORIES]
    for seed in CATEGORIES:
        info = served[_category_enum(seed.display_name)]
        assert info.description == seed.description
        expected = {
            code
            for record in RECORDS
            if record.category == seed.display_name
            for code in record.codes
        }
        assert info.document_code_count == len(expected), seed.display_name


@pytest.mark.parametrize(
    "record", RECORDS, ids=[f"{r.code_text}-{r.category.split()[0]}" for r in RECORDS]
)
def test_every_record_is_served_exactly(
    stub: pb_grpc.ErrorCatalogServiceStub, record: SeedRecord
) -> None:
    category = _category_enum(record.category)
    for code in record.codes:
        info = stub.GetError(pb.GetErrorRequest(code=code), timeout=5).error
        listings = [info, *info.other_listings]
        match = [
            listing
            for listing in listings
            if listing.category == category and listing.reason == record.reason
        ]
        assert match, f"{code} is not served under {record.category}"
        listing = match[0]
        assert listing.description == record.description
        assert listing.recommended_action == _action(record)
        assert info.source == pb.SOURCE_PROVIDER_DOCUMENT
        if record.first_code != record.last_code:
            assert info.document_range == record.code_text


@pytest.mark.parametrize("seed", CATEGORIES, ids=[c.display_name for c in CATEGORIES])
def test_list_errors_by_category_returns_the_document_records_in_order(
    stub: pb_grpc.ErrorCatalogServiceStub, seed: SeedCategory
) -> None:
    display_name = seed.display_name
    served = _listings(stub, _category_enum(display_name))
    expected = [
        (code, record.reason, record.description, _action(record))
        for record in RECORDS
        if record.category == display_name
        for code in record.codes
    ]
    got = [(i.code, i.reason, i.description, i.recommended_action) for i in served]
    assert got == expected


def test_code_in_two_categories_keeps_both_wordings(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    records = [r for r in RECORDS if 115006 in r.codes]
    assert {r.category for r in records} == {"Quota Errors", "Subscription Errors"}
    info = stub.GetError(pb.GetErrorRequest(code=115006), timeout=5).error
    assert info.category == pb.CATEGORY_QUOTA
    assert [o.category for o in info.other_listings] == [pb.CATEGORY_SUBSCRIPTION]
    assert info.reason == "Account expired"
    assert info.other_listings[0].reason == "Account Expired"
    assert info.other_listings[0].description == "Your billing account has expired."
    subscription = _listings(stub, pb.CATEGORY_SUBSCRIPTION)
    assert [(i.code, i.reason) for i in subscription] == [(115006, "Account Expired")]


def test_indonesian_action_is_kept_and_translated(stub: pb_grpc.ErrorCatalogServiceStub) -> None:
    for code in range(115001, 115006):
        info = stub.GetError(pb.GetErrorRequest(code=code), timeout=5).error
        assert info.recommended_action == "Lakukan top up kuota sesuai kebutuhan broadcast."
        assert info.recommended_action_language_code == "id"
        english = {t.language_code: t.text for t in info.recommended_action_translations}
        assert english["en"].startswith("Top up")


def test_every_document_code_resolves_through_batch_get(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    codes = sorted({code for record in RECORDS for code in record.codes})
    response = stub.BatchGetErrors(pb.BatchGetErrorsRequest(codes=codes), timeout=5)
    assert [e.code for e in response.errors] == codes
    assert response.catalog_version
