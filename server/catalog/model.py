"""What a validated catalog is: its entries, families and categories, indexed.

server/catalog/loader.py builds these from the TOML file; everything above
the catalog (the classifier, the ErrorInfo cache, the servicer) reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from whatsapp_errors.v1 import error_catalog_pb2 as pb

RETRYABLE_STRATEGIES = frozenset(
    {pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF, pb.RETRY_STRATEGY_RETRY_AFTER}
)
"""Strategies under which the same message can succeed when sent again."""


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the file, line and entry."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One listing of one code, as the catalog file words it."""

    code: int
    category: pb.Category.ValueType
    reason: str
    description: str
    recommended_action: str
    source: pb.Source.ValueType
    retry_strategy: pb.RetryStrategy.ValueType
    actor: pb.Actor.ValueType
    retry_after_seconds: int = 0
    recommended_action_language: str = "en"
    translations: tuple[tuple[str, str], ...] = ()
    document_range: str = ""
    additional_listing: bool = False
    line: int = 0
    doc_url: str = ""
    """The documentation the entry comes from (Meta's page, or the provider document)."""
    checked_on: str = ""
    """YYYY-MM-DD: when the entry was last checked against `doc_url`."""
    decision_basis: str = ""
    """One sentence: what the decision (strategy, wait, actor) rests on."""
    retired: bool = False
    """The platform no longer sends it (On-Premises API, early Cloud API)."""
    http_status: int = 0
    """The HTTP status the documentation gives; 0 when none."""
    retry_budget: int = 0
    """Automatic retries the documentation implies before a person should look; 0: none said."""
    subcode: int = 0
    """For a (code, Graph API subcode) pair entry: the subcode."""
    wait_from_details: bool = False
    """The documentation says the wait is written in `error_data.details`."""
    rules: tuple[Rule, ...] = ()
    """Decisions for particular `details` texts, tried in order before the entry's own."""

    @property
    def retryable(self) -> bool:
        """Whether the same message can succeed when sent again."""
        return self.retry_strategy in RETRYABLE_STRATEGIES


@dataclass(frozen=True, slots=True)
class Family:
    """A block of codes sharing a decision, for codes nobody lists yet."""

    first: int
    last: int
    name: str
    category: pb.Category.ValueType
    retry_strategy: pb.RetryStrategy.ValueType
    actor: pb.Actor.ValueType
    retry_after_seconds: int = 0
    doc_url: str = ""
    checked_on: str = ""
    decision_basis: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """A decision for an entry's code when its `details` match a pattern.

    Meta sends one code for causes that need different handling (131053:
    an unsupported media type is a fix, a 5xx from the media host is
    transient); the pattern tells them apart. Patterns are plain
    alternations of literal words, so matching stays linear in the text.
    """

    name: str
    pattern: re.Pattern[str]
    retry_strategy: pb.RetryStrategy.ValueType
    actor: pb.Actor.ValueType
    retry_after_seconds: int = 0
    retry_budget: int = 0
    decision_basis: str = ""

    @property
    def retryable(self) -> bool:
        """Whether the same message can succeed when sent again."""
        return self.retry_strategy in RETRYABLE_STRATEGIES


@dataclass(frozen=True, slots=True)
class CategoryDef:
    """A category heading of the provider's document."""

    category: pb.Category.ValueType
    display_name: str
    description: str


@dataclass(slots=True)
class Catalog:
    """A validated catalog: every listing plus the indexes lookups need."""

    version: str
    categories: tuple[CategoryDef, ...]
    entries: tuple[Entry, ...]
    families: tuple[Family, ...]
    http_statuses: Mapping[int, int]
    pairs: Mapping[tuple[int, int], Entry] = field(default_factory=dict)
    """(code, Graph API subcode) entries: 190 with 463 and the like."""
    path: str = ""
    load_seconds: float = 0.0
    listings: dict[int, tuple[Entry, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grouped: dict[int, list[Entry]] = {}
        for entry in self.entries:
            grouped.setdefault(entry.code, []).append(entry)
        self.listings = {code: tuple(items) for code, items in grouped.items()}

    def get(self, code: int) -> Entry | None:
        """The primary listing of `code`, or None."""
        items = self.listings.get(code)
        return items[0] if items else None

    def family_of(self, code: int) -> Family | None:
        """The narrowest family that contains `code`, or None."""
        best: Family | None = None
        for family in self.families:
            if family.first <= code <= family.last and (
                best is None or family.last - family.first < best.last - best.first
            ):
                best = family
        return best
