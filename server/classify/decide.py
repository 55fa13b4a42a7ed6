"""The decision for one found error: which entry answers it, how surely, with what wait.

Lookup order, from most to least certain: the (code, subcode) pair, the
Graph API subcode (when the code is the generic 100 or unknown), the code
(with its `details` rules and the inbound case), a BSP's own code or message
in that BSP's envelope (server/classify/bsp_decisions.py), then for a code no
entry lists: strong text evidence, the code's family, weak text evidence, the
HTTP status, the `is_transient` hint, and finally UNKNOWN. A code the error
carries is always the code reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp_errors.server.catalog import Catalog
from whatsapp_errors.server.catalog.error_infos import (
    MessageCache,
    family_info,
    inferred_info,
    shaped_info,
)
from whatsapp_errors.server.classify.bsp_decisions import BspAnswers
from whatsapp_errors.server.classify.found import FoundError
from whatsapp_errors.server.classify.text_match import STRONG, TextMatch, TextMatcher
from whatsapp_errors.server.classify.waits import wait_in_text
from whatsapp_errors.v1 import error_catalog_pb2 as pb

GENERIC_CODES = frozenset({1, 2, 100})
"""Graph API codes that only say "see the subcode" when a subcode is present."""

CONF_DOCUMENT = 1.0
"""The code is in the provider's document."""
CONF_CATALOG = 0.95
"""The code (or code and subcode) is a Meta or overlay entry."""
CONF_RULE = 0.9
"""The code is an entry and its details matched one of the entry's rules."""
CONF_CODE_IN_TEXT = 0.9
"""The code is an entry, but was read from text ("(#131026)", "code 131026")."""
CONF_HTTP = 0.7
"""No code: the HTTP status maps to an entry."""
CONF_SHAPED = 0.6
"""An unlisted code whose text strongly matches an entry: that entry's decision."""
CONF_FAMILY = 0.5
"""An unlisted code in a documented block: the block's decision."""
CONF_SHAPED_WEAK = 0.4
"""An unlisted code outside every block, whose text weakly matches an entry."""
CONF_SHAPED_HTTP = 0.35
"""An unlisted code outside every block, decided by its HTTP status."""
CONF_TRANSIENT = 0.3
"""Only the `is_transient` hint was usable."""
MAX_RULE_TEXT = 4096
"""Only the start of a details text is matched against an entry's rules."""
_INFERRED_CACHE_MAX = 4096


@dataclass(slots=True)
class Decision:
    """One classified error: the entry it matched, how, and where it came from.

    Treat as read-only. Not `frozen`: a frozen dataclass sets each field
    through object.__setattr__, about three times the cost of a plain one,
    and a stream item makes one or two.
    """

    info: pb.ErrorInfo
    match_kind: pb.MatchKind.ValueType
    confidence: float
    raw: FoundError
    retry_after: float | None = None
    """Seconds the input itself said to wait (details, headers); None: the entry's."""


class Decider:
    """Decides found errors against one catalog; its caches live as long as the catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.messages = MessageCache(catalog)
        self.text = TextMatcher(catalog)
        self.bsp = BspAnswers(self.messages)
        self._inferred: dict[int, pb.ErrorInfo] = {}
        self._shapes: dict[tuple[int, int, int], pb.ErrorInfo] = {}
        self._waits_in_details = {
            code: True for code, entries in catalog.listings.items() if entries[0].wait_from_details
        }
        self._plain = self._plain_verdicts()
        self._unknown = inferred_info(
            0,
            category=pb.CATEGORY_UNKNOWN,
            reason="Unknown error",
            description="No catalog entry, code family or text rule matches this error.",
            retry_strategy=pb.RETRY_STRATEGY_CONTACT_SUPPORT,
            actor=pb.ACTOR_PROVIDER_SUPPORT,
        )

    def _plain_verdicts(self) -> dict[int, tuple[pb.ErrorInfo, pb.MatchKind.ValueType, float]]:
        """(info, match kind, confidence) per listed code whose decision needs only the code.

        That is every code without `details` rules whose entry never takes a
        wait from the details (or does not retry): for an error with such a
        code, no subcode, no stated wait, not inbound and not read from text,
        `_listed` always answers this, so `decide` takes it from here.
        """
        plain = {}
        for code in self.catalog.listings:
            info = self.messages.primary[code]
            if code in self.messages.rules or (self._waits_in_details.get(code) and info.retryable):
                continue
            kind = pb.MATCH_KIND_CODE_RANGE if info.document_range else pb.MATCH_KIND_EXACT_CODE
            confidence = CONF_CATALOG if info.source == pb.SOURCE_META else CONF_DOCUMENT
            plain[code] = (info, kind, confidence)
        return plain

    def decide(self, raw: FoundError) -> Decision:
        """Finds the best catalog answer for one error.

        A code the error carries is the code reported: for a code no entry
        lists, text, HTTP status or the transient hint may shape the decision
        (at lower confidence, said in match_kind), never replace the code.
        """
        code, subcode = raw.code, raw.subcode
        if subcode is None and code is not None:  # the common case, decided once per code
            plain = self._plain.get(code)
            if (
                plain is not None
                and raw.retry_after_seconds is None
                and not raw.inbound
                and not raw.code_from_text
            ):
                return Decision(plain[0], plain[1], plain[2], raw)
        messages = self.messages
        if code is not None and subcode is not None:
            pair = messages.pairs.get((code, subcode))
            if pair is not None:
                return self._answer(pair, pb.MATCH_KIND_CODE_AND_SUBCODE, CONF_CATALOG, raw)
        listings = self.catalog.listings
        if (
            subcode is not None
            and subcode in listings
            and (code is None or code in GENERIC_CODES or code not in listings)
        ):
            return self._answer(messages.primary[subcode], pb.MATCH_KIND_SUBCODE, CONF_CATALOG, raw)
        if code is not None and code in listings:
            return self._listed(code, raw)
        own = self.bsp.find(raw)  # a BSP's own code or message, in its envelope
        if own is not None:
            return self._answer(own.info, own.match_kind, own.confidence, raw, own.wait_in_text)
        text = self.text.match(raw.title, raw.message, raw.details, _symbol_words(raw))
        if code is not None:
            return self._unlisted(code, text, raw)
        if text is not None:
            info = messages.primary[text.code]
            return self._answer(info, pb.MATCH_KIND_MESSAGE_TEXT, text.confidence, raw)
        mapped = self.catalog.http_statuses.get(raw.http_status)
        if mapped is not None:
            info = messages.primary[mapped]
            return self._answer(info, pb.MATCH_KIND_HTTP_STATUS, CONF_HTTP, raw)
        if raw.is_transient:
            return self._answer(
                self._transient(0), pb.MATCH_KIND_TRANSIENT_HINT, CONF_TRANSIENT, raw
            )
        return Decision(self._unknown_info(0), pb.MATCH_KIND_NONE, 0.0, raw)

    def _listed(self, code: int, raw: FoundError) -> Decision:
        """A code with an entry: its rules on `details`, the inbound case, or the entry."""
        messages = self.messages
        if raw.inbound:
            return Decision(messages.inbound[code], pb.MATCH_KIND_EXACT_CODE, CONF_CATALOG, raw)
        rules = messages.rules.get(code)
        if rules is not None and (raw.details or raw.message):
            for rule, info in rules:
                if rule.pattern.search(raw.details[:MAX_RULE_TEXT]) or rule.pattern.search(
                    raw.message[:MAX_RULE_TEXT]
                ):
                    return self._answer(info, pb.MATCH_KIND_DETAILS_RULE, CONF_RULE, raw)
        info = messages.primary[code]
        kind = pb.MATCH_KIND_CODE_RANGE if info.document_range else pb.MATCH_KIND_EXACT_CODE
        confidence = CONF_CATALOG if info.source == pb.SOURCE_META else CONF_DOCUMENT
        if raw.code_from_text:  # a code quoted in text: strong, but not a structured field
            confidence = min(confidence, CONF_CODE_IN_TEXT)
        return self._answer(info, kind, confidence, raw, self._waits_in_details.get(code, False))

    def _unlisted(self, code: int, text: TextMatch | None, raw: FoundError) -> Decision:
        """A code no entry lists: strong text, family, weak text, HTTP status, hint, UNKNOWN."""
        family = self.catalog.family_of(code)
        if text is not None and text.confidence >= STRONG:
            return self._shaped(code, text.code, pb.MATCH_KIND_MESSAGE_TEXT, CONF_SHAPED, raw)
        if family is not None:
            info = self._family(code)
            if raw.is_transient and not info.retryable:
                # The platform's own flag is better evidence than a block's default.
                return self._answer(
                    self._transient(code), pb.MATCH_KIND_TRANSIENT_HINT, CONF_TRANSIENT, raw
                )
            return self._answer(info, pb.MATCH_KIND_CODE_FAMILY, CONF_FAMILY, raw)
        if text is not None:
            return self._shaped(code, text.code, pb.MATCH_KIND_MESSAGE_TEXT, CONF_SHAPED_WEAK, raw)
        mapped = self.catalog.http_statuses.get(raw.http_status)
        if mapped is not None:
            return self._shaped(code, mapped, pb.MATCH_KIND_HTTP_STATUS, CONF_SHAPED_HTTP, raw)
        if raw.is_transient:
            return self._answer(
                self._transient(code), pb.MATCH_KIND_TRANSIENT_HINT, CONF_TRANSIENT, raw
            )
        return Decision(self._unknown_info(code), pb.MATCH_KIND_NONE, 0.0, raw)

    def _answer(
        self,
        info: pb.ErrorInfo,
        kind: pb.MatchKind.ValueType,
        confidence: float,
        raw: FoundError,
        details_wait: bool = False,
    ) -> Decision:
        """A decision, with the wait the input stated when the decision retries."""
        if (raw.retry_after_seconds is None and not details_wait) or not info.retryable:
            return Decision(info, kind, confidence, raw)
        wait = raw.retry_after_seconds
        if wait is None:
            wait = wait_in_text(raw.details) or wait_in_text(raw.message)
        return Decision(info, kind, confidence, raw, wait)

    def _shaped(
        self,
        code: int,
        like: int,
        kind: pb.MatchKind.ValueType,
        confidence: float,
        raw: FoundError,
    ) -> Decision:
        """The carried code, with the decision of the entry its text or status points to."""
        key = (code, like, kind)
        info = self._shapes.get(key)
        if info is None:
            info = shaped_info(code, self.messages.primary[like], kind)
            if len(self._shapes) >= _INFERRED_CACHE_MAX:
                self._shapes.clear()
            self._shapes[key] = info
        return self._answer(info, kind, confidence, raw)

    def _family(self, code: int) -> pb.ErrorInfo:
        info = self._inferred.get(code)
        if info is None:
            family = self.catalog.family_of(code)
            assert family is not None
            info = family_info(code, family)
            self._remember(code, info)
        return info

    def _transient(self, code: int) -> pb.ErrorInfo:
        return inferred_info(
            code,
            category=pb.CATEGORY_UNKNOWN,
            reason="Transient error",
            description="No catalog entry matches, but the payload marks the error as transient.",
            retry_strategy=pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF,
            actor=pb.ACTOR_PLATFORM,
            retry_after_seconds=5,
        )

    def _unknown_info(self, code: int) -> pb.ErrorInfo:
        if code == 0:
            return self._unknown
        info = pb.ErrorInfo()
        info.CopyFrom(self._unknown)
        info.code = code
        return info

    def _remember(self, code: int, info: pb.ErrorInfo) -> None:
        if len(self._inferred) >= _INFERRED_CACHE_MAX:
            self._inferred.clear()
        self._inferred[code] = info


def _symbol_words(raw: FoundError) -> str:
    """A BSP's symbolic code as words for the text rules ("TOO_MANY_REQUESTS"), if any."""
    symbol = raw.symbolic_code
    if not symbol or raw.code is not None or symbol.lstrip("-").isdigit():
        return ""
    return symbol.replace("_", " ").replace("-", " ").lower()
