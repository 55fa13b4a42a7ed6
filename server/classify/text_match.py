"""Matches free error text to catalog codes, saying how sure the match is.

Callers often hold only text: the provider's own failures reach them as
`cURL error 28: ...` or `read ECONNRESET`, and older webhooks carry only a
title. Rules, from most to least certain: a Graph API `(#code)` marker, the
whole text equal to a reason or description, a reason inside the text, an
alias rule (server/classify/text_aliases.py), then shared rare words. What
a request may match is metered (server/classify/text_budget.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from whatsapp_errors.server.catalog import Catalog, Entry
from whatsapp_errors.server.classify.text_aliases import ALIASES, alias_matches
from whatsapp_errors.server.classify.text_budget import ACTIVE_METER
from whatsapp_errors.v1 import error_catalog_pb2 as pb

CONF_CODE_MARKER = 0.9
CONF_EXACT = 0.85
CONF_EXACT_AMBIGUOUS = 0.6
CONF_REASON_IN_TEXT = 0.8
CONF_ALIAS = 0.8
CONF_WORDS_MAX = 0.55
STRONG = 0.75
"""Text matches at or above this beat a code family."""

_MIN_REASON_LEN = 8
_CACHE_MAX = 4096
_CACHE_TEXT_MAX = 512
"""Text tuples longer than this are matched afresh (bounds the cache's memory)."""
_MISS = object()
_MAX_TEXT = 4096
_CODE_MARKER = re.compile(r"\(#(\d{1,10})\)")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be been by for from has have in is it its not of on or that the this "
    "to was were will with your you can could please try again contact support message "
    "messages error errors failed".split()
)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """A catalog code found in text, and how sure the match is."""

    code: int
    confidence: float
    rule: str


def normalise(text: str) -> str:
    """Case-folded, straight quotes, single spaces, no trailing full stop."""
    return " ".join(text.translate(_QUOTES).casefold().split()).rstrip(".")


class TextMatcher:
    """Indexes a catalog's reasons and descriptions for text lookups."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._exact: dict[str, list[int]] = {}
        reasons: dict[str, int] = {}
        documents: dict[int, set[str]] = {}
        for entry in _ordered(catalog):
            for text in (entry.reason, entry.description):
                key = normalise(text)
                codes = self._exact.setdefault(key, [])
                if entry.code not in codes:
                    codes.append(entry.code)
            reason = normalise(entry.reason)
            if len(reason) >= _MIN_REASON_LEN:
                reasons.setdefault(reason, entry.code)
            words = documents.setdefault(entry.code, set())
            words.update(_words(f"{entry.reason} {entry.description}"))
        self._reasons = sorted(reasons.items(), key=lambda item: -len(item[0]))
        self._aliases = tuple((a, c) for c, a in ALIASES if c in catalog.listings)
        frequency = Counter(word for words in documents.values() for word in words)
        total = max(len(documents), 1)
        self._idf = {word: math.log(1 + total / count) for word, count in frequency.items()}
        self._documents = documents
        self._cache: dict[tuple[str, ...], TextMatch | None] = {}

    def match(self, *texts: str) -> TextMatch | None:
        """The best match for any of `texts` (title, message, details), or None.

        Real traffic repeats the same few texts per code (Meta's titles and
        messages are fixed strings), so short text tuples are answered from a
        bounded cache: a hit is a dict lookup, a match scores every rule.
        """
        total = sum(map(len, texts))
        cacheable = total <= _CACHE_TEXT_MAX
        if cacheable:
            cached = self._cache.get(texts, _MISS)
            if cached is not _MISS:
                return cached  # type: ignore[return-value]
        meter = ACTIVE_METER.get()
        if meter is not None:  # what _match reads: each text up to _MAX_TEXT
            meter.charge(total if cacheable else sum(min(len(t), _MAX_TEXT) for t in texts))
        best = self._match(texts)
        if cacheable:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[texts] = best
        return best

    def _match(self, texts: tuple[str, ...]) -> TextMatch | None:
        best: TextMatch | None = None
        for text in texts:
            if not text:
                continue
            found = self._match_one(text[:_MAX_TEXT])
            if found is not None and (best is None or found.confidence > best.confidence):
                best = found
                if best.confidence >= CONF_CODE_MARKER:
                    break
        return best

    def _match_one(self, text: str) -> TextMatch | None:
        marker = _CODE_MARKER.search(text)
        if marker and int(marker.group(1)) in self._catalog.listings:
            return TextMatch(int(marker.group(1)), CONF_CODE_MARKER, "code marker")
        key = normalise(text)
        if not key:
            return None
        exact = self._exact.get(key)
        if exact:
            confidence = CONF_EXACT if len(exact) == 1 else CONF_EXACT_AMBIGUOUS
            return TextMatch(exact[0], confidence, "exact text")
        for reason, code in self._reasons:
            at = key.find(reason)
            if at >= 0 and _bounded(key, at, at + len(reason)):
                return TextMatch(code, CONF_REASON_IN_TEXT, "reason in text")
        for alternatives, code in self._aliases:
            if alias_matches(key, alternatives):
                return TextMatch(code, CONF_ALIAS, "alias")
        return self._by_words(key)

    def _by_words(self, key: str) -> TextMatch | None:
        words = {w for w in _WORD.findall(key) if w not in _STOPWORDS and len(w) > 1}
        if not words:
            return None
        best_code, best_score = -1, 0.0
        for code, document in self._documents.items():
            shared = words & document
            if not shared:
                continue
            weight = sum(self._idf.get(w, 0.0) for w in shared)
            norm = sum(self._idf.get(w, 0.0) for w in document) or 1.0
            score = weight / norm
            if score > best_score:
                best_code, best_score = code, score
        if best_score < 0.5:
            return None
        return TextMatch(best_code, round(min(CONF_WORDS_MAX, 0.3 + 0.3 * best_score), 3), "words")


def _ordered(catalog: Catalog) -> list[Entry]:
    """The entries text may point to, document entries first (they win ties against Meta's).

    Retired codes are left out: the platform no longer sends them, so their
    titles ("Too many requests") must not outbid a current code's. Of a Meta
    range (200–299) only its first code stands for the range's wording.
    """
    current = [
        entry
        for entry in catalog.entries
        if not entry.retired
        and not (
            entry.document_range
            and entry.source != pb.SOURCE_PROVIDER_DOCUMENT
            and entry.code != int(entry.document_range.replace("–", "-").split("-")[0])
        )
    ]
    return sorted(current, key=lambda entry: entry.source != pb.SOURCE_PROVIDER_DOCUMENT)


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(normalise(text)) if w not in _STOPWORDS and len(w) > 1]


def _bounded(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not before.isalnum() and not after.isalnum()
