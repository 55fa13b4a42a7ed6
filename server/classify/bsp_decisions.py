"""Decisions for a BSP's own codes, from the BSP code table, for errors read in its envelope.

A Twilio status callback says `ErrorCode: 63016`, not Meta's 131047; Gupshup
says `1002`, MessageBird `302`, 360dialog only a message. No catalog entry
lists those, so without this table they came back UNKNOWN. decide() asks here
once the catalog has nothing for the error's code, before any weaker
evidence (text rules, code families, the HTTP status):

- the error's shape must be the entry's BSP: codes are per BSP;
- a carried code is looked up as it is, and stays the code reported;
- with no carried code, a BSP's own number kept as `symbolic_code` (Gupshup's)
  is looked up, then the BSP's documented messages; the answer's code is then
  the WhatsApp code the entry maps to, or 0 (no code), as for other no-code
  answers.

An entry that maps to a WhatsApp code (`meta_code`) answers with that catalog
entry's decision, so the two can never disagree. The answer is SOURCE_INFERRED
(no catalog entry answered: the reading of the BSP's page is ours), with
MATCH_KIND_EXACT_CODE for a code and MATCH_KIND_MESSAGE_TEXT for a message,
and confidences between the catalog's own entries and evidence lent from
around the error.
"""

from __future__ import annotations

from typing import NamedTuple

from whatsapp_errors.server.catalog.bsp_table import (
    BSP_NAMES,
    BspEntry,
    BspTable,
    load_bsp_table,
)
from whatsapp_errors.server.catalog.error_infos import MessageCache, inferred_info
from whatsapp_errors.server.catalog.model import CatalogError
from whatsapp_errors.server.classify.found import FoundError
from whatsapp_errors.v1 import error_catalog_pb2 as pb

CONF_BSP_CODE = 0.85
"""The carried code (or the BSP's own number) is in that BSP's table."""
CONF_BSP_TEXT = 0.8
"""No code: the text holds a message the BSP documents."""
MAX_TEXT = 4096
"""Only the start of each text is searched for a documented message."""
_MAX_SYMBOL_DIGITS = 18


class BspAnswer(NamedTuple):
    """What decide() needs: the entry's answer, how it matched, and whether to read a wait."""

    info: pb.ErrorInfo
    match_kind: pb.MatchKind.ValueType
    confidence: float
    wait_in_text: bool


class BspAnswers:
    """The table's answers, built once per catalog (a `meta_code` takes that entry's decision)."""

    def __init__(self, messages: MessageCache, table: BspTable | None = None) -> None:
        table = table if table is not None else load_bsp_table()
        self._carried: dict[tuple[str, int], BspAnswer] = {}
        self._own_number: dict[tuple[str, int], BspAnswer] = {}
        texts: dict[str, list[tuple[tuple[str, ...], BspAnswer]]] = {}
        for entry in table.entries:
            like = _like(entry, messages, table.path)
            reported = entry.meta_code if entry.meta_code is not None else 0
            if entry.code is not None:
                key = (entry.bsp, entry.code)
                self._carried[key] = BspAnswer(
                    _info(entry, entry.code, like), pb.MATCH_KIND_EXACT_CODE, CONF_BSP_CODE, False
                )
                self._own_number[key] = BspAnswer(
                    _info(entry, reported, like), pb.MATCH_KIND_EXACT_CODE, CONF_BSP_CODE, False
                )
            else:
                answer = BspAnswer(
                    _info(entry, reported, like), pb.MATCH_KIND_MESSAGE_TEXT, CONF_BSP_TEXT, True
                )
                texts.setdefault(entry.bsp, []).append((entry.texts, answer))
        self._texts = {bsp: tuple(found) for bsp, found in texts.items()}
        self.shapes = frozenset(entry.bsp for entry in table.entries)
        """The envelope shapes that have entries: any other error is answered elsewhere."""

    def find(self, raw: FoundError) -> BspAnswer | None:
        """The table's answer for an error the catalog has no entry for, or None."""
        shape = raw.shape
        if shape not in self.shapes:
            return None
        if raw.code is not None:
            return self._carried.get((shape, raw.code))
        symbol = raw.symbolic_code
        if symbol and len(symbol) <= _MAX_SYMBOL_DIGITS and symbol.isascii() and symbol.isdigit():
            found = self._own_number.get((shape, int(symbol)))
            if found is not None:
                return found
        texts = self._texts.get(shape)
        if texts is None or not (raw.title or raw.message or raw.details):
            return None
        haystack = "\n".join(
            (raw.title[:MAX_TEXT], raw.message[:MAX_TEXT], raw.details[:MAX_TEXT])
        ).lower()
        for alternatives, answer in texts:
            if any(text in haystack for text in alternatives):
                return answer
        return None


def _like(entry: BspEntry, messages: MessageCache, where: str) -> pb.ErrorInfo | None:
    """The catalog entry whose decision a mapped entry takes; CatalogError if none lists it."""
    if entry.meta_code is None:
        return None
    like = messages.primary.get(entry.meta_code)
    if like is None:
        raise CatalogError(
            f"{where}:{entry.line}: {entry.label}: meta_code {entry.meta_code} is not a code "
            "the catalog lists"
        )
    return like


def _info(entry: BspEntry, code: int, like: pb.ErrorInfo | None) -> pb.ErrorInfo:
    """The ErrorInfo of one entry, reporting `code`."""
    name = BSP_NAMES[entry.bsp]
    what = f"code {entry.code}" if entry.code is not None else "documented message"
    description = f"{name}'s own {what} (not a WhatsApp code). {entry.meaning}"
    if like is None:
        category, strategy, actor = entry.category, entry.retry_strategy, entry.actor
        wait = entry.retry_after_seconds
    else:
        category, strategy, actor = like.category, like.retry_strategy, like.actor
        wait = like.retry_after.seconds if like.HasField("retry_after") else 0
        description += (
            f" It stands for WhatsApp's {like.code} ({like.reason}), whose decision it takes."
        )
    info = inferred_info(
        code,
        category=category,
        reason=entry.meaning,
        description=description,
        retry_strategy=strategy,
        actor=actor,
        retry_after_seconds=wait,
        doc_url=entry.doc_url,
        decision_basis=entry.decision_basis or f"{name}'s documentation of its {what}.",
    )
    info.checked_on = entry.checked_on
    if like is not None:
        info.recommended_action = like.recommended_action or info.recommended_action
        info.retry_budget = like.retry_budget
    return info
