"""The BSP code table (server/catalog/bsp_codes.toml): valid, answered, and per BSP.

Every entry is sent over a real server in its BSP's own envelope and must
answer its decision (for an entry mapped to a WhatsApp code, that catalog
entry's decision); the same code in another BSP's envelope, or as a bare
code, must not borrow it. A bad table is refused with the line at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from whatsapp_errors.server.catalog import CatalogError, load_catalog
from whatsapp_errors.server.catalog.bsp_table import BspEntry, load_bsp_table
from whatsapp_errors.server.catalog.error_infos import MessageCache
from whatsapp_errors.server.classify import Classifier
from whatsapp_errors.server.classify.bsp_decisions import (
    CONF_BSP_CODE,
    CONF_BSP_TEXT,
    BspAnswers,
)
from whatsapp_errors.server.classify.generic_reader import extract_errors
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

TABLE = load_bsp_table()
CATALOG = load_catalog()
CODES = [entry for entry in TABLE.entries if entry.code is not None]
TEXTS = [(entry, text) for entry in TABLE.entries for text in entry.texts]


def _twilio(code: int) -> dict[str, Any]:
    return {"MessageSid": "SMtest", "MessageStatus": "undelivered", "ErrorCode": str(code)}


def _gupshup(code: int) -> dict[str, Any]:
    event = {"id": "g-1", "type": "failed", "destination": "91", "payload": {"code": code}}
    return {"type": "message-event", "payload": event}


def _bird(code: int) -> dict[str, Any]:
    error = {"code": code, "description": "failed"}
    return {"id": "mb-1", "conversationId": "c-1", "status": "failed", "error": error}


ENVELOPES: dict[str, tuple[Callable[[int], dict[str, Any]], bool]] = {
    "twilio": (_twilio, True),
    "gupshup": (_gupshup, False),  # Gupshup's own numbers are kept as symbolic_code
    "bird": (_bird, True),
}
"""Per BSP with code entries: a failure carrying a code, and whether the code stays carried."""


def _id(entry: BspEntry) -> str:
    return f"{entry.bsp}-{entry.code if entry.code is not None else entry.texts[0]}"


def _classify(stub: pb_grpc.ErrorCatalogServiceStub, payload: Any) -> pb.Classification:
    reply = stub.Classify(pb.ClassifyRequest(payload=orjson.dumps(payload)), timeout=10)
    assert len(reply.classifications) == 1
    found: pb.Classification = reply.classifications[0]
    return found


def _decision(entry: BspEntry) -> tuple[int, int, int, int]:
    """(category, strategy, actor, wait) the entry must answer: its Meta code's when mapped."""
    if entry.meta_code is not None:
        meta = CATALOG.get(entry.meta_code)
        assert meta is not None, entry.label
        return meta.category, meta.retry_strategy, meta.actor, meta.retry_after_seconds
    return entry.category, entry.retry_strategy, entry.actor, entry.retry_after_seconds


def _answers_entry(found: pb.Classification, entry: BspEntry) -> bool:
    info = found.error_info
    return info.source == pb.SOURCE_INFERRED and info.reason == entry.meaning


# ---- the file ---------------------------------------------------------------------------


def test_the_table_is_a_sourced_handful_per_bsp() -> None:
    assert 10 <= len(TABLE.entries) <= 40
    assert {entry.bsp for entry in TABLE.entries} >= {"twilio", "gupshup", "bird", "360dialog"}
    for entry in TABLE.entries:
        assert entry.doc_url.startswith("https://"), entry.label
        assert entry.checked_on == "2026-12-03", entry.label


@pytest.mark.parametrize("entry", [e for e in TABLE.entries if e.meta_code is not None], ids=_id)
def test_a_mapped_entry_writes_the_decision_of_its_meta_code(entry: BspEntry) -> None:
    """The file states what the answer is; for a mapped code, that is the catalog's decision."""
    written = (entry.category, entry.retry_strategy, entry.actor, entry.retry_after_seconds)
    assert written == _decision(entry), entry.label


def test_no_code_entry_is_a_catalog_code_it_could_never_answer() -> None:
    """A carried code the catalog lists is answered by the catalog, never by this table."""
    for entry in CODES:
        carried = ENVELOPES[entry.bsp][1]
        assert not (carried and entry.code in CATALOG.listings), entry.label


_GOOD = """
[[codes]]
bsp = "twilio"
code = 63016
meaning = "Outside the window."
category = "BUSINESS_ACCOUNT"
retry_strategy = "RESEND_AS_TEMPLATE"
actor = "BUSINESS"
doc_url = "https://www.twilio.com/docs/api/errors/63016"
checked_on = 2026-12-03
"""


def _bad(body: str, **changes: str | None) -> str:
    lines = []
    for line in body.strip().splitlines():
        key = line.split(" = ")[0]
        if key in changes:
            if changes[key] is not None:
                lines.append(f"{key} = {changes[key]}")
            continue
        lines.append(line)
    lines += [f"{key} = {value}" for key, value in changes.items() if value and key not in body]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"retry_strategy": '"RETRY_SOMETIME"'}, "unknown retry_strategy 'RETRY_SOMETIME'"),
        ({"actor": '"NOBODY_AT_ALL"'}, "unknown actor"),
        ({"category": '"UNKNOWN"'}, "UNKNOWN is for unmatched codes"),
        ({"bsp": '"acme"'}, "unknown bsp 'acme'"),
        ({"doc_url": None}, "missing field(s) doc_url"),
        ({"doc_url": '"twilio.com/docs"'}, "must be the https:// page"),
        ({"checked_on": '"last week"'}, "`checked_on` must be a date"),
        ({"retry_strategy": '"RETRY_AFTER"'}, "RETRY_AFTER needs `retry_after_seconds`"),
        ({"retry_after_seconds": "30"}, "only for RETRY_AFTER and RETRY_WITH_BACKOFF"),
        ({"text": '"outside the window"'}, "exactly one of `code = N`"),
        ({"code": '"63016"'}, "`code` must be an integer"),
        ({"meaning": '"""two\nlines"""'}, "`meaning` must be one line"),
        ({"colour": '"blue"'}, "unknown field(s) colour"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_a_bad_entry_is_refused_with_its_line(
    tmp_path: Path, changes: dict[str, str | None], problem: str
) -> None:
    path = tmp_path / "bsp_codes.toml"
    good = _GOOD.replace("code = 63016", "code = 63018")
    path.write_text(f"# a comment\n{good}\n{_bad(_GOOD, **changes)}", encoding="utf-8")
    line = path.read_text().splitlines().index("[[codes]]", 3) + 1
    with pytest.raises(CatalogError) as caught:
        load_bsp_table(path)
    assert f"{path}:{line}: BSP code #2" in str(caught.value)
    assert problem in str(caught.value)


def test_a_code_listed_twice_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "bsp_codes.toml"
    path.write_text(_GOOD + _GOOD, encoding="utf-8")
    with pytest.raises(CatalogError, match=r":12: .*already listed at line 2"):
        load_bsp_table(path)


def test_a_text_must_be_literal_words(tmp_path: Path) -> None:
    path = tmp_path / "bsp_codes.toml"
    path.write_text(_GOOD.replace("code = 63016", 'text = "limit.*[0-9]+"'), encoding="utf-8")
    with pytest.raises(CatalogError, match=r":2: .*must be literal words"):
        load_bsp_table(path)


def test_a_meta_code_the_catalog_does_not_list_refuses_the_classifier(tmp_path: Path) -> None:
    path = tmp_path / "bsp_codes.toml"
    path.write_text(_GOOD + "meta_code = 999991\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"bsp_codes.toml:2: Twilio 63016: meta_code 999991"):
        BspAnswers(MessageCache(CATALOG), load_bsp_table(path))


def test_the_embedded_table_is_what_a_classifier_answers_from() -> None:
    assert Classifier(CATALOG).decider.bsp.shapes == {entry.bsp for entry in TABLE.entries}


# ---- the answers, over a real server -------------------------------------------------------


@pytest.mark.parametrize("entry", CODES, ids=_id)
def test_every_code_answers_its_decision_in_its_envelope(
    stub: pb_grpc.ErrorCatalogServiceStub, entry: BspEntry
) -> None:
    assert entry.code is not None
    build, carried = ENVELOPES[entry.bsp]
    found = _classify(stub, build(entry.code))
    info = found.error_info
    category, strategy, actor, wait = _decision(entry)
    reported = entry.code if carried else (entry.meta_code or 0)
    assert info.code == reported, entry.label
    assert found.context.HasField("carried_code") is carried
    assert (info.category, info.retry_strategy, info.actor) == (category, strategy, actor)
    assert info.retry_after.seconds == wait
    assert info.retryable is (
        strategy in (pb.RETRY_STRATEGY_RETRY_AFTER, pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF)
    )
    assert info.source == pb.SOURCE_INFERRED
    assert (info.doc_url, info.checked_on) == (entry.doc_url, entry.checked_on)
    assert info.reason == entry.meaning and info.decision_basis
    assert found.match_kind == pb.MATCH_KIND_EXACT_CODE
    assert found.confidence == pytest.approx(CONF_BSP_CODE)
    assert found.context.shape == entry.bsp


@pytest.mark.parametrize(("entry", "text"), TEXTS, ids=[f"{e.bsp}-{t}" for e, t in TEXTS])
def test_every_documented_message_answers_its_decision(
    stub: pb_grpc.ErrorCatalogServiceStub, entry: BspEntry, text: str
) -> None:
    assert entry.bsp == "360dialog"  # the only BSP here that sends no code
    meta = {"success": False, "httpCode": 400, "developerMessage": f"Refused: {text.upper()}."}
    found = _classify(stub, {"meta": meta})
    info = found.error_info
    category, strategy, actor, wait = _decision(entry)
    assert info.code == (entry.meta_code or 0)
    assert not found.context.HasField("carried_code")
    assert (info.category, info.retry_strategy, info.actor) == (category, strategy, actor)
    assert info.retry_after.seconds == wait
    assert (info.source, info.doc_url, info.reason) == (
        pb.SOURCE_INFERRED,
        entry.doc_url,
        entry.meaning,
    )
    assert found.match_kind == pb.MATCH_KIND_MESSAGE_TEXT
    assert found.confidence == pytest.approx(CONF_BSP_TEXT)


def test_the_wait_a_360dialog_limit_states_is_the_wait(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    message = "You have exceeded the limit of 1 request every 12 seconds. Try again later."
    found = _classify(
        stub, {"meta": {"httpCode": 400, "developerMessage": message, "success": False}}
    )
    assert found.error_info.retry_strategy == pb.RETRY_STRATEGY_RETRY_AFTER
    assert found.error_info.category == pb.CATEGORY_RATE_LIMIT
    assert found.retry_after.seconds == 12


def test_an_undocumented_360dialog_message_is_still_decided_by_its_status(
    stub: pb_grpc.ErrorCatalogServiceStub,
) -> None:
    meta = {"httpCode": 400, "developerMessage": "Something else entirely", "success": False}
    found = _classify(stub, {"meta": meta})
    assert found.match_kind == pb.MATCH_KIND_HTTP_STATUS
    assert found.error_info.code == 100


def _elsewhere(entry: BspEntry) -> list[tuple[str, pb.ClassifyRequest]]:
    """The entry's code in every other envelope that carries a code, and on its own."""
    assert entry.code is not None
    requests = [
        (bsp, pb.ClassifyRequest(payload=orjson.dumps(build(entry.code))))
        for bsp, (build, _) in ENVELOPES.items()
        if bsp != entry.bsp
    ]
    requests.append(("code", pb.ClassifyRequest(code=entry.code)))
    requests.append(("structured", pb.ClassifyRequest(error=pb.StructuredError(code=entry.code))))
    return requests


@pytest.mark.parametrize("entry", CODES, ids=_id)
def test_a_bsp_code_in_another_envelope_is_not_that_bsps(
    stub: pb_grpc.ErrorCatalogServiceStub, entry: BspEntry
) -> None:
    """Codes are per BSP: Twilio's 63016 under Bird, or bare, stays UNKNOWN (or the catalog's)."""
    assert entry.code is not None
    for shape, request in _elsewhere(entry):
        reply = stub.Classify(request, timeout=10)
        found = reply.classifications[0]
        assert not _answers_entry(found, entry), (entry.label, shape)
        own = (shape, entry.code) in {(e.bsp, e.code) for e in CODES}
        known = entry.code in CATALOG.listings or CATALOG.family_of(entry.code) is not None
        if not own and not known:
            assert found.match_kind == pb.MATCH_KIND_NONE, (entry.label, shape)
            assert found.error_info.category == pb.CATEGORY_UNKNOWN
            assert found.error_info.code == entry.code


def test_a_messagebird_message_is_read_as_bird_by_both_readers() -> None:
    """`conversationId` beside `error` is MessageBird's message: the fast path leaves it alone."""
    body = orjson.dumps({"conversationId": "c-1", "error": {"code": 302, "description": "x"}})
    assert extract_webhook_errors(body) is None
    (found,) = extract_errors(orjson.loads(body), "payload")
    assert (found.shape, found.code) == ("bird", 302)


def test_catalog_version_changes_when_the_bsp_table_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from whatsapp_errors.server.catalog import bsp_table

    edited = tmp_path / "bsp_codes.toml"
    edited.write_text(bsp_table.EMBEDDED_BSP_TABLE.read_text(encoding="utf-8") + "\n# edited\n")
    monkeypatch.setattr(bsp_table, "EMBEDDED_BSP_TABLE", edited)
    changed = load_catalog()
    assert changed.version != CATALOG.version
    assert changed.version.rsplit("-", 1)[0] == CATALOG.version.rsplit("-", 1)[0]  # same label
