"""Meta's codes in the catalog: every one an entry, decided as Meta's documentation says.

Three tables pin the decisions. `tests/data/catalog_decisions.tsv` holds
every entry's strategy, wait, actor and retryability (and the pair
entries'), `tests/data/family_decisions.tsv` every family's: a catalog edit
that changes what a caller is told fails here and must be argued for in the
commit. `FOLLOWS_META` and `KEPT` below pin, with a reason each, the
decisions where the provider's document or an SDK says otherwise, so
nobody "fixes" them back.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from whatsapp_errors.server.catalog import Catalog, load_catalog
from whatsapp_errors.server.catalog.drift import SNAPSHOT, compare, read_snapshot
from whatsapp_errors.server.classify import Classifier
from whatsapp_errors.server.classify.error_context import to_found
from whatsapp_errors.server.classify.found import RawError
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

DATA = Path(__file__).parent / "data"
CATALOG = load_catalog()
CLASSIFIER = Classifier(CATALOG)
SNAPSHOT_CODES = read_snapshot()
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Row(NamedTuple):
    """One pinned decision."""

    strategy: str
    retry_after: int
    actor: str
    retryable: bool


def _table(name: str) -> dict[tuple[int, int], tuple[Row, bool, str]]:
    rows = {}
    for line in (DATA / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        code, sub, strategy, after, actor, retryable, retired, source = line.split("\t")
        row = Row(strategy, int(after), actor, retryable == "true")
        rows[(int(code), int(sub))] = (row, retired == "true", source)
    return rows


DECISIONS = _table("catalog_decisions.tsv")


def _row(info: pb.ErrorInfo) -> Row:
    return Row(
        pb.RetryStrategy.Name(info.retry_strategy).removeprefix("RETRY_STRATEGY_"),
        info.retry_after.seconds,
        pb.Actor.Name(info.actor).removeprefix("ACTOR_"),
        info.retryable,
    )


def _decide(**fields: object) -> pb.Classification:
    decision = CLASSIFIER.decide(to_found(RawError(**fields)))  # type: ignore[arg-type]
    message = pb.Classification(
        error_info=decision.info, match_kind=decision.match_kind, confidence=decision.confidence
    )
    if decision.retry_after is not None:
        message.retry_after.FromNanoseconds(round(decision.retry_after * 1e9))
    return message


# ---- the whole catalog against the tables -------------------------------------------------


def test_the_decision_table_covers_every_entry_and_pair() -> None:
    listed = {(code, 0) for code in CATALOG.listings} | set(CATALOG.pairs)
    assert set(DECISIONS) == listed


@pytest.mark.parametrize("key", sorted(DECISIONS), ids=lambda k: f"{k[0]}/{k[1]}")
def test_every_entry_decides_as_the_table_says(key: tuple[int, int]) -> None:
    row, retired, source = DECISIONS[key]
    code, subcode = key
    info = CLASSIFIER.messages.pairs[key] if subcode else CLASSIFIER.messages.primary[code]
    assert _row(info) == row
    assert info.retired is retired
    assert pb.Source.Name(info.source) == f"SOURCE_{source}"
    if row.retryable:
        assert info.retry_after.seconds > 0, "a retryable decision gives a first wait"


def test_every_family_decides_as_the_table_says() -> None:
    expected = {}
    for line in (DATA / "family_decisions.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            first, last, strategy, after, actor = line.split("\t")
            expected[(int(first), int(last))] = (strategy, int(after), actor)
    actual = {
        (f.first, f.last): (
            pb.RetryStrategy.Name(f.retry_strategy).removeprefix("RETRY_STRATEGY_"),
            f.retry_after_seconds,
            pb.Actor.Name(f.actor).removeprefix("ACTOR_"),
        )
        for f in CATALOG.families
    }
    assert actual == expected


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (131299, (131200, 131299)),  # groups block, narrower than 131xxx
        (138099, (138000, 138099)),
        (139050, (139000, 139099)),
        (139150, (139100, 139199)),
        (147999, (147000, 147999)),
        (2388999, (2388000, 2388999)),
        (2494999, (2494000, 2494999)),
        (2593999, (2593000, 2593999)),
        (80099, (80000, 80099)),
        (130999, (130000, 130999)),
        (134999, (134000, 134999)),
        (137999, (137000, 137999)),
    ],
)
def test_an_unlisted_code_of_a_documented_block_gets_the_blocks_decision(
    code: int, family: tuple[int, int]
) -> None:
    assert code not in CATALOG.listings
    found = _decide(code=code)
    assert found.match_kind == pb.MATCH_KIND_CODE_FAMILY
    assert found.error_info.code == code
    assert 0.4 <= found.confidence <= 0.6
    block = CATALOG.family_of(code)
    assert block is not None and (block.first, block.last) == family


# ---- provenance --------------------------------------------------------------------------


def _all_infos(catalog: Catalog) -> list[pb.ErrorInfo]:
    messages = Classifier(catalog).messages
    return [info for _, info in messages.by_listing] + list(messages.pairs.values())


def test_every_entry_says_where_it_comes_from_when_it_was_checked_and_why() -> None:
    for info in _all_infos(CATALOG):
        assert info.doc_url, info.code
        assert _DATE.match(info.checked_on), info.code
        assert info.decision_basis.strip(), info.code
        if info.source == pb.SOURCE_META:
            assert info.doc_url.startswith("https://developers.facebook.com/"), info.code
        else:
            assert info.doc_url.startswith("provider document"), info.code


def test_every_family_says_why() -> None:
    for family in CATALOG.families:
        assert family.decision_basis and family.doc_url, family.name


# ---- Meta's documented codes ---------------------------------------------------------------


def test_the_dated_snapshot_of_metas_codes_matches_the_catalog() -> None:
    document = json.loads(SNAPSHOT.read_text())
    assert _DATE.match(document["fetched"])
    drift = compare(SNAPSHOT_CODES, CATALOG)
    assert drift.empty, drift


def test_drift_reports_added_removed_and_retitled_codes(tmp_path: Path) -> None:
    document = json.loads(SNAPSHOT.read_text())
    document["codes"] = [c for c in document["codes"] if c["code"] != 131064]
    document["codes"].append({"code": 131999, "subcode": None, "title": "New", "url": ""})
    for row in document["codes"]:
        if row["code"] == 130429 or row["code"] == 4:
            row["title"] = "Renamed by Meta"
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(document))
    drift = compare(read_snapshot(newer), CATALOG)
    assert drift.added == [((131999, 0), "New")]
    assert drift.removed == [((131064, 0), CATALOG.listings[131064][0].reason)]
    assert [key for key, _, _ in drift.retitled] == [(4, 0)]


def test_every_snapshot_code_is_an_entry_not_a_guess() -> None:
    for (code, subcode), row in SNAPSHOT_CODES.items():
        found = _decide(code=code, subcode=subcode or None)
        assert found.error_info.source != pb.SOURCE_INFERRED, (code, subcode)
        assert found.error_info.retired is bool(row.get("retired")), (code, subcode)


def test_list_errors_with_source_meta_shows_every_meta_code(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    codes: set[int] = set()
    token = ""
    while True:
        page = stub.ListErrors(
            pb.ListErrorsRequest(source=pb.SOURCE_META, page_size=500, page_token=token),
            timeout=5,
        )
        codes.update(info.code for info in page.errors)
        token = page.next_page_token
        if not token:
            break
    provider = {c for c, es in CATALOG.listings.items() if es[0].source != pb.SOURCE_META}
    assert {code for code, _ in SNAPSHOT_CODES} - provider <= codes


def test_get_error_answers_a_pair_and_the_missing_pair_with_help(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    pair = stub.GetError(pb.GetErrorRequest(code=190, subcode=463), timeout=5).error
    assert (pair.code, pair.subcode) == (190, 463)
    assert pair.retry_strategy == pb.RETRY_STRATEGY_REFRESH_TOKEN
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetError(pb.GetErrorRequest(code=190, subcode=1), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    status = _status(caught.value)
    helps = [d for d in status.details if d.Is(error_details_pb2.Help.DESCRIPTOR)]
    assert len(helps) == 1
    help_message = error_details_pb2.Help()
    helps[0].Unpack(help_message)
    assert help_message.links[0].url.startswith("https://developers.facebook.com/")


def _status(error: grpc.RpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no rich status")


# ---- decisions that follow Meta, and the ones kept against the anchors --------------------


FOLLOWS_META = {
    # code: (strategy, retry_after, actor, why)
    131056: ("RETRY_WITH_BACKOFF", 1, "PLATFORM", "pair rate limit: 1 msg / 6 s to one user"),
    131049: ("RETRY_AFTER", 86400, "BUSINESS", "wait at least 24 h; retries draw enforcement"),
    133016: ("RETRY_AFTER", 259200, "BUSINESS", "registration blocked for the next 72 h"),
    131000: ("RETRY_WITH_BACKOFF", 10, "PLATFORM", "unknown error: Meta says try again"),
    0: ("REFRESH_TOKEN", 0, "PLATFORM", "get a new access token"),
    190: ("REFRESH_TOKEN", 0, "PLATFORM", "expired token; the subcode says if a person acts"),
    368: ("FIX_CONFIGURATION", 0, "BUSINESS", "a policy block the business resolves"),
    138013: ("FIX_CONFIGURATION", 0, "BUSINESS", "calling not available: retries never help"),
    137000: ("FIX_RECIPIENT", 0, "BUSINESS", "identity changed: a person re-verifies"),
    139000: ("CONTACT_SUPPORT", 0, "PROVIDER_SUPPORT", "flow blocked by integrity"),
}
KEPT = {
    131026: ("DO_NOT_RETRY", 0, "RECIPIENT", "only the user can act, reached outside WhatsApp"),
    130472: ("DO_NOT_RETRY", 0, "BUSINESS", "experiment hold-out: a resend cannot change it"),
    131052: ("DO_NOT_RETRY", 0, "RECIPIENT", "the user's media: ask the user"),
    131047: ("RESEND_AS_TEMPLATE", 0, "BUSINESS", "Meta: send a template instead"),
    133005: ("FIX_CONFIGURATION", 0, "BUSINESS", "a wrong PIN is not transient"),
    131048: ("RETRY_AFTER", 86400, "BUSINESS", "quality restriction: never a short retry"),
    132069: ("RETRY_AFTER", 3600, "BUSINESS", "the flow limit is hourly"),
}


@pytest.mark.parametrize("code", sorted({**FOLLOWS_META, **KEPT}))
def test_pinned_decisions(code: int) -> None:
    strategy, after, actor, why = {**FOLLOWS_META, **KEPT}[code]
    info = CLASSIFIER.messages.primary[code]
    row = _row(info)
    assert (row.strategy, row.retry_after, row.actor) == (strategy, after, actor), why
    assert info.decision_basis, why


def test_provider_texts_stay_word_for_word_where_the_decision_follows_meta() -> None:
    entry = CATALOG.listings[131056][0]
    assert entry.source == pb.SOURCE_PROVIDER_DOCUMENT
    assert entry.reason == "Daily rate limit exceeded"
    assert "pair rate limit" in entry.decision_basis


@pytest.mark.parametrize(
    ("subcode", "strategy", "actor"),
    [
        (463, "REFRESH_TOKEN", "PLATFORM"),  # expired: the platform refreshes
        (467, "REFRESH_TOKEN", "PLATFORM"),  # invalid token
        (458, "FIX_CONFIGURATION", "BUSINESS"),  # app not installed: a person acts
        (459, "FIX_CONFIGURATION", "BUSINESS"),  # user checkpointed
        (460, "FIX_CONFIGURATION", "BUSINESS"),  # password changed
        (464, "FIX_CONFIGURATION", "BUSINESS"),  # unconfirmed user
        (492, "FIX_CONFIGURATION", "BUSINESS"),  # invalid session
    ],
)
def test_190s_subcodes_tell_refresh_from_a_person_must_act(
    subcode: int, strategy: str, actor: str
) -> None:
    found = _decide(code=190, subcode=subcode)
    assert found.match_kind == pb.MATCH_KIND_CODE_AND_SUBCODE
    row = _row(found.error_info)
    assert (row.strategy, row.actor) == (strategy, actor)


def test_the_200_299_range_is_documented_and_200_has_its_own_entry() -> None:
    ranged = _decide(code=250)
    assert ranged.match_kind == pb.MATCH_KIND_CODE_RANGE
    assert ranged.error_info.source == pb.SOURCE_META
    assert ranged.error_info.document_range == "200–299"
    own = _decide(code=200)
    assert own.match_kind == pb.MATCH_KIND_EXACT_CODE
    assert own.error_info.reason != ranged.error_info.reason


# ---- strategies that read the input -------------------------------------------------------


def test_131053_with_a_5xx_from_the_media_host_retries_with_backoff() -> None:
    details = "Downloading media from weblink failed with http code 503, status message Unavailable"
    found = _decide(code=131053, details=details)
    assert found.match_kind == pb.MATCH_KIND_DETAILS_RULE
    assert found.error_info.retry_strategy == pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF
    assert found.error_info.retry_budget == 3
    wrong_type = _decide(code=131053, details="Unsupported Voice mime type audio/opus")
    assert wrong_type.match_kind == pb.MATCH_KIND_EXACT_CODE
    assert wrong_type.error_info.retry_strategy == pb.RETRY_STRATEGY_FIX_REQUEST


@pytest.mark.parametrize(
    ("details", "seconds"),
    [
        ("Try again in 2 hours", 7200),
        ("Please wait 1 hour 30 minutes before another attempt", 5400),
        ("no wait stated here", None),
    ],
)
def test_133008_reads_its_wait_from_details(details: str, seconds: int | None) -> None:
    found = _decide(code=133008, details=details)
    if seconds is None:
        assert not found.HasField("retry_after")
        assert found.error_info.retry_after.seconds == 3600  # the fallback
    else:
        assert found.retry_after.seconds == seconds


def test_a_stated_wait_never_makes_a_do_not_retry_code_retryable() -> None:
    found = _decide(code=131026, details="try again in 5 minutes")
    assert not found.HasField("retry_after")
    assert not found.error_info.retryable


def test_retry_budgets_where_meta_implies_one() -> None:
    assert CLASSIFIER.messages.primary[131000].retry_budget == 2
    assert CLASSIFIER.messages.primary[1].retry_budget == 1


def test_is_transient_beats_a_familys_non_retry_guess_but_never_an_entry() -> None:
    family = _decide(code=131999, is_transient=True)
    assert family.match_kind == pb.MATCH_KIND_TRANSIENT_HINT
    assert family.error_info.retryable and family.error_info.code == 131999
    entry = _decide(code=131026, is_transient=True)
    assert entry.match_kind == pb.MATCH_KIND_EXACT_CODE
    assert not entry.error_info.retryable


def test_an_inbound_messages_error_is_nothing_to_resend() -> None:
    found = CLASSIFIER.decide(to_found(RawError(code=131051)))
    assert found.info.retry_strategy == pb.RETRY_STRATEGY_FIX_REQUEST
    raw = to_found(RawError(code=131051))
    raw.inbound = True
    inbound = CLASSIFIER.decide(raw)
    assert inbound.info.retry_strategy == pb.RETRY_STRATEGY_DO_NOT_RETRY
    assert inbound.info.code == 131051 and not inbound.info.retryable


def test_an_unknown_code_is_kept_when_text_shapes_its_decision() -> None:
    found = _decide(code=555_555, title="Template Paused")
    assert found.error_info.code == 555_555
    assert found.error_info.source == pb.SOURCE_INFERRED
    assert found.error_info.retry_strategy == pb.RETRY_STRATEGY_FIX_TEMPLATE
    assert found.match_kind == pb.MATCH_KIND_MESSAGE_TEXT
    assert found.confidence < 0.95


def test_an_on_premises_code_is_its_own_retired_entry_not_a_text_match() -> None:
    found = _decide(code=1006, title="Resource not found")
    assert found.error_info.code == 1006
    assert found.error_info.retired
    assert found.match_kind == pb.MATCH_KIND_EXACT_CODE
    assert not found.error_info.retryable


def test_every_snapshot_code_answers_get_error_with_its_page(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    """Over the wire: every Meta code of the snapshot is an entry (not inferred) with its URL."""
    plain = sorted({code for code, subcode in SNAPSHOT_CODES if not subcode})
    infos = list(stub.BatchGetErrors(pb.BatchGetErrorsRequest(codes=plain), timeout=10).errors)
    assert [info.code for info in infos] == plain
    for info in infos:
        assert info.source != pb.SOURCE_INFERRED and info.doc_url, info.code
    for code, subcode in (key for key in SNAPSHOT_CODES if key[1]):
        pair = stub.GetError(pb.GetErrorRequest(code=code, subcode=subcode), timeout=5).error
        assert pair.doc_url.startswith("https://developers.facebook.com/"), (code, subcode)


def test_138012_reads_the_next_allowed_call_time_from_details() -> None:
    """Meta: the details give a timestamp when the next business-initiated call is allowed."""
    soon = int(time.time()) + 3600
    found = _decide(code=138012, details=f"Next call allowed at {soon}")
    assert 3500 <= found.retry_after.seconds <= 3600
    fallback = _decide(code=138012, details="limit reached")
    assert not fallback.HasField("retry_after")
    assert fallback.error_info.retry_after.seconds == 86400
