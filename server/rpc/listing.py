"""ListErrors' filter: which listings a query's words find, at a bounded cost.

A query is cut to words that are checked against each listing's text; the
text of every listing is normalised once per catalog (not once per call),
words are de-duplicated and their number and the query's length are
capped, so one call costs at most listings x MAX_QUERY_WORDS substring
checks: a 7 MB query of "e e e ..." is refused, not worked through.
"""

from __future__ import annotations

import weakref

from whatsapp_errors.server.catalog.error_infos import MessageCache
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.text_match import normalise
from whatsapp_errors.server.rich_status import invalid_argument
from whatsapp_errors.v1 import error_catalog_pb2 as pb

MAX_QUERY_CHARS = 512
"""Longest query ListErrors reads."""
MAX_QUERY_WORDS = 16
"""Most distinct words in one query."""

_TEXTS: weakref.WeakKeyDictionary[MessageCache, list[str]] = weakref.WeakKeyDictionary()
"""Each catalog's listing texts, normalised once (freed with its messages after a reload).

Keyed on the classifier's MessageCache, which holds the listings: the
Classifier itself is compiled (server/hot_path.py) and takes no weak
reference.
"""


def query_words(query: str) -> list[str]:
    """The query's distinct words in order; INVALID_ARGUMENT past the caps."""
    if len(query) > MAX_QUERY_CHARS:
        raise invalid_argument(
            [("query", f"at most {MAX_QUERY_CHARS} characters, got {len(query)}")]
        )
    words = list(dict.fromkeys(normalise(query).split()))
    if len(words) > MAX_QUERY_WORDS:
        raise invalid_argument(
            [("query", f"at most {MAX_QUERY_WORDS} distinct words, got {len(words)}")]
        )
    return words


def matching(
    classifier: Classifier, category: int, source: int, words: list[str]
) -> list[pb.ErrorInfo]:
    """The listings in listing order that pass the filters (every word must occur)."""
    texts = _listing_texts(classifier) if words else None
    out = []
    for index, (entry, info) in enumerate(classifier.messages.by_listing):
        if category and entry.category != category:
            continue
        if source and entry.source != source:
            continue
        if texts is not None and not all(word in texts[index] for word in words):
            continue
        out.append(info)
    return out


def _listing_texts(classifier: Classifier) -> list[str]:
    messages = classifier.messages
    texts = _TEXTS.get(messages)
    if texts is None:
        texts = _TEXTS[messages] = [_text(info) for _entry, info in messages.by_listing]
    return texts


def _text(info: pb.ErrorInfo) -> str:
    return normalise(
        " ".join(
            (
                str(info.code),
                info.reason,
                info.description,
                info.recommended_action,
                *(t.text for t in info.recommended_action_translations),
            )
        )
    )
