"""Builds the protobuf messages the service returns, once per catalog entry.

Catalog answers never change while a catalog is loaded, so every ErrorInfo
is built (and serialised) once at load time and reused for every call.
"""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from whatsapp_errors.server.catalog.model import Catalog, Entry, Family, Rule
from whatsapp_errors.v1 import error_catalog_pb2 as pb

STRATEGY_ADVICE: dict[pb.RetryStrategy.ValueType, str] = {
    pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF: "Retry with exponential backoff.",
    pb.RETRY_STRATEGY_RETRY_AFTER: "Retry after the suggested delay.",
    pb.RETRY_STRATEGY_RESEND_AS_TEMPLATE: "Resend the message as an approved template.",
    pb.RETRY_STRATEGY_FIX_REQUEST: "Fix the request before sending again.",
    pb.RETRY_STRATEGY_FIX_TEMPLATE: "Fix the template before sending again.",
    pb.RETRY_STRATEGY_FIX_RECIPIENT: "Check the recipient's number before sending again.",
    pb.RETRY_STRATEGY_FIX_CONFIGURATION: "Fix the account, number or app configuration first.",
    pb.RETRY_STRATEGY_TOP_UP_QUOTA: "Top up the message quota, then send again.",
    pb.RETRY_STRATEGY_RENEW_BILLING: "Renew or fix the billing account, then send again.",
    pb.RETRY_STRATEGY_CONTACT_SUPPORT: "Contact the provider's support with the error details.",
    pb.RETRY_STRATEGY_DO_NOT_RETRY: "Do not retry: sending again will not succeed.",
    pb.RETRY_STRATEGY_REFRESH_TOKEN: "Get a new access token, then send again.",
}
"""Generic advice for inferred entries, which have no recommended action of their own."""


def listing(entry: Entry) -> pb.ErrorListing:
    """One category's wording of a code."""
    return pb.ErrorListing(
        category=entry.category,
        reason=entry.reason,
        description=entry.description,
        recommended_action=entry.recommended_action,
    )


def error_info(entry: Entry, others: tuple[Entry, ...] = ()) -> pb.ErrorInfo:
    """The ErrorInfo of one listing, naming the code's other listings."""
    info = pb.ErrorInfo(
        code=entry.code,
        category=entry.category,
        reason=entry.reason,
        description=entry.description,
        recommended_action=entry.recommended_action,
        recommended_action_language_code=entry.recommended_action_language,
        recommended_action_translations=[
            pb.LocalizedText(language_code=lang, text=text) for lang, text in entry.translations
        ],
        source=entry.source,
        retryable=entry.retryable,
        retry_strategy=entry.retry_strategy,
        actor=entry.actor,
        document_range=entry.document_range,
        other_listings=[listing(other) for other in others if other is not entry],
        doc_url=entry.doc_url,
        checked_on=entry.checked_on,
        decision_basis=entry.decision_basis,
        retired=entry.retired,
        subcode=entry.subcode,
        retry_budget=entry.retry_budget,
        http_status=entry.http_status,
    )
    if entry.retry_after_seconds:
        info.retry_after.CopyFrom(Duration(seconds=entry.retry_after_seconds))
    return info


def rule_info(base: pb.ErrorInfo, rule: Rule) -> pb.ErrorInfo:
    """The entry's ErrorInfo with the decision of one of its `details` rules."""
    info = pb.ErrorInfo()
    info.CopyFrom(base)
    info.retry_strategy = rule.retry_strategy
    info.actor = rule.actor
    info.retryable = rule.retryable
    info.retry_budget = rule.retry_budget
    info.decision_basis = rule.decision_basis
    info.ClearField("retry_after")
    if rule.retry_after_seconds:
        info.retry_after.CopyFrom(Duration(seconds=rule.retry_after_seconds))
    return info


INBOUND_BASIS = (
    "The error belongs to a message the business received, not one it sent: "
    "there is nothing to resend."
)


def inbound_info(base: pb.ErrorInfo) -> pb.ErrorInfo:
    """The entry's ErrorInfo for an error on an inbound message: nothing to resend."""
    info = pb.ErrorInfo()
    info.CopyFrom(base)
    info.retry_strategy = pb.RETRY_STRATEGY_DO_NOT_RETRY
    info.retryable = False
    info.retry_budget = 0
    info.decision_basis = INBOUND_BASIS
    info.ClearField("retry_after")
    return info


def inferred_info(
    code: int,
    *,
    category: pb.Category.ValueType,
    reason: str,
    description: str,
    retry_strategy: pb.RetryStrategy.ValueType,
    actor: pb.Actor.ValueType,
    retry_after_seconds: int = 0,
    doc_url: str = "",
    decision_basis: str = "",
) -> pb.ErrorInfo:
    """An ErrorInfo for a code no catalog entry lists."""
    info = pb.ErrorInfo(
        code=code,
        category=category,
        reason=reason,
        description=description,
        recommended_action=STRATEGY_ADVICE.get(retry_strategy, ""),
        recommended_action_language_code="en",
        source=pb.SOURCE_INFERRED,
        retryable=retry_strategy
        in (pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF, pb.RETRY_STRATEGY_RETRY_AFTER),
        retry_strategy=retry_strategy,
        actor=actor,
        doc_url=doc_url,
        decision_basis=decision_basis,
    )
    if retry_after_seconds:
        info.retry_after.CopyFrom(Duration(seconds=retry_after_seconds))
    return info


_SHAPED_BY = {
    pb.MATCH_KIND_MESSAGE_TEXT: "its text",
    pb.MATCH_KIND_HTTP_STATUS: "its HTTP status",
}


def shaped_info(code: int, like: pb.ErrorInfo, kind: pb.MatchKind.ValueType) -> pb.ErrorInfo:
    """An unlisted code, decided like the entry its text or HTTP status points to."""
    by = _SHAPED_BY.get(kind, "its evidence")
    info = inferred_info(
        code,
        category=like.category,
        reason=f"Unlisted code, read as: {like.reason}",
        description=(
            f"Code {code} is not in the catalog; {by} points to code {like.code} "
            f"({like.reason}), whose decision it takes."
        ),
        retry_strategy=like.retry_strategy,
        actor=like.actor,
        retry_after_seconds=like.retry_after.seconds if like.HasField("retry_after") else 0,
        decision_basis=f"Inferred from {by}: the decision of code {like.code}.",
    )
    info.recommended_action = like.recommended_action or info.recommended_action
    return info


def family_info(code: int, family: Family) -> pb.ErrorInfo:
    """The inferred ErrorInfo of an unlisted code inside a family."""
    return inferred_info(
        code,
        category=family.category,
        reason=f"Unlisted {family.name} error",
        description=(
            f"Code {code} is not in the catalog; it lies in the {family.name} family "
            f"({family.first}–{family.last}), whose decision it takes."
        ),
        retry_strategy=family.retry_strategy,
        actor=family.actor,
        retry_after_seconds=family.retry_after_seconds,
        doc_url=family.doc_url,
        decision_basis=family.decision_basis
        or f"The decision the {family.name} family's documented codes share.",
    )


class MessageCache:
    """Every catalog answer as a ready-made message, built once per catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.primary: dict[int, pb.ErrorInfo] = {}
        self.by_listing: list[tuple[Entry, pb.ErrorInfo]] = []
        for code, entries in catalog.listings.items():
            for entry in entries:
                info = error_info(entry, entries)
                self.by_listing.append((entry, info))
                if entry is entries[0]:
                    self.primary[code] = info
        self.pairs = {key: error_info(entry) for key, entry in catalog.pairs.items()}
        self.rules: dict[int, tuple[tuple[Rule, pb.ErrorInfo], ...]] = {
            code: tuple((rule, rule_info(self.primary[code], rule)) for rule in entries[0].rules)
            for code, entries in catalog.listings.items()
            if entries[0].rules
        }
        self.inbound = {code: inbound_info(info) for code, info in self.primary.items()}
        counts: dict[pb.Category.ValueType, set[int]] = {}
        document_counts: dict[pb.Category.ValueType, set[int]] = {}
        for entry in catalog.entries:
            counts.setdefault(entry.category, set()).add(entry.code)
            if entry.source == pb.SOURCE_PROVIDER_DOCUMENT:
                document_counts.setdefault(entry.category, set()).add(entry.code)
        self.categories = [
            pb.CategoryInfo(
                category=cat.category,
                display_name=cat.display_name,
                description=cat.description,
                code_count=len(counts.get(cat.category, ())),
                document_code_count=len(document_counts.get(cat.category, ())),
            )
            for cat in catalog.categories
        ]
