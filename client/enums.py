"""The proto's enums as Python IntEnums without their prefixes: `RetryStrategy.FIX_TEMPLATE`.

A caller names a decision without importing the generated module or stripping
`RETRY_STRATEGY_` by hand. Each member equals its wire value, so members go
straight into requests (`list_errors(category=Category.QUOTA)`) and
`Category(info.category) is Category.QUOTA` reads a field back (mypy --strict
prefers that to comparing the generated int type with a member). `label` is
the lower-case name the CLI prints and `--category` takes. A value this client
does not know yet (a newer server's) reads back as a member named
`UNRECOGNIZED_<n>` instead of failing: the proto only ever grows, and an old
client must keep working against a new server. tests/test_client_decisions.py
checks that every proto value has its member here.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from whatsapp_errors.v1 import error_catalog_pb2 as pb


class _ProtoEnum(IntEnum):
    """An IntEnum mirroring a proto enum; unknown wire values become pseudo-members."""

    @property
    def label(self) -> str:
        """The lower-case name: `rate_limit`, `fix_template`."""
        return self.name.lower()

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNRECOGNIZED_{value}"
        member._value_ = value
        return member

    def __str__(self) -> str:
        return self.name


class Category(_ProtoEnum):
    """The catalog category a code is filed under."""

    UNSPECIFIED = pb.CATEGORY_UNSPECIFIED
    AUTHORIZATION = pb.CATEGORY_AUTHORIZATION
    BUSINESS_ACCOUNT = pb.CATEGORY_BUSINESS_ACCOUNT
    NETWORK = pb.CATEGORY_NETWORK
    OTHER = pb.CATEGORY_OTHER
    QUOTA = pb.CATEGORY_QUOTA
    RATE_LIMIT = pb.CATEGORY_RATE_LIMIT
    RECIPIENT = pb.CATEGORY_RECIPIENT
    SUBSCRIPTION = pb.CATEGORY_SUBSCRIPTION
    SYSTEM = pb.CATEGORY_SYSTEM
    TEMPLATE = pb.CATEGORY_TEMPLATE
    VALIDATION = pb.CATEGORY_VALIDATION
    UNKNOWN = pb.CATEGORY_UNKNOWN


class Source(_ProtoEnum):
    """Where a catalog entry comes from."""

    UNSPECIFIED = pb.SOURCE_UNSPECIFIED
    PROVIDER_DOCUMENT = pb.SOURCE_PROVIDER_DOCUMENT
    META = pb.SOURCE_META
    OVERLAY = pb.SOURCE_OVERLAY
    INFERRED = pb.SOURCE_INFERRED


class RetryStrategy(_ProtoEnum):
    """What a caller should do about a failure."""

    UNSPECIFIED = pb.RETRY_STRATEGY_UNSPECIFIED
    RETRY_WITH_BACKOFF = pb.RETRY_STRATEGY_RETRY_WITH_BACKOFF
    RETRY_AFTER = pb.RETRY_STRATEGY_RETRY_AFTER
    RESEND_AS_TEMPLATE = pb.RETRY_STRATEGY_RESEND_AS_TEMPLATE
    FIX_REQUEST = pb.RETRY_STRATEGY_FIX_REQUEST
    FIX_TEMPLATE = pb.RETRY_STRATEGY_FIX_TEMPLATE
    FIX_RECIPIENT = pb.RETRY_STRATEGY_FIX_RECIPIENT
    FIX_CONFIGURATION = pb.RETRY_STRATEGY_FIX_CONFIGURATION
    TOP_UP_QUOTA = pb.RETRY_STRATEGY_TOP_UP_QUOTA
    RENEW_BILLING = pb.RETRY_STRATEGY_RENEW_BILLING
    CONTACT_SUPPORT = pb.RETRY_STRATEGY_CONTACT_SUPPORT
    DO_NOT_RETRY = pb.RETRY_STRATEGY_DO_NOT_RETRY
    REFRESH_TOKEN = pb.RETRY_STRATEGY_REFRESH_TOKEN


class Actor(_ProtoEnum):
    """Who must act to resolve a failure."""

    UNSPECIFIED = pb.ACTOR_UNSPECIFIED
    PLATFORM = pb.ACTOR_PLATFORM
    BUSINESS = pb.ACTOR_BUSINESS
    RECIPIENT = pb.ACTOR_RECIPIENT
    PROVIDER_SUPPORT = pb.ACTOR_PROVIDER_SUPPORT
    NONE = pb.ACTOR_NONE


class MatchKind(_ProtoEnum):
    """How a classification found its catalog entry."""

    UNSPECIFIED = pb.MATCH_KIND_UNSPECIFIED
    EXACT_CODE = pb.MATCH_KIND_EXACT_CODE
    SUBCODE = pb.MATCH_KIND_SUBCODE
    CODE_RANGE = pb.MATCH_KIND_CODE_RANGE
    CODE_FAMILY = pb.MATCH_KIND_CODE_FAMILY
    HTTP_STATUS = pb.MATCH_KIND_HTTP_STATUS
    MESSAGE_TEXT = pb.MATCH_KIND_MESSAGE_TEXT
    TRANSIENT_HINT = pb.MATCH_KIND_TRANSIENT_HINT
    NONE = pb.MATCH_KIND_NONE
    CODE_AND_SUBCODE = pb.MATCH_KIND_CODE_AND_SUBCODE
    DETAILS_RULE = pb.MATCH_KIND_DETAILS_RULE


PROTO_ENUMS: dict[type[_ProtoEnum], Any] = {
    Category: pb.Category,
    Source: pb.Source,
    RetryStrategy: pb.RetryStrategy,
    Actor: pb.Actor,
    MatchKind: pb.MatchKind,
}
"""Each IntEnum and the generated enum it mirrors."""
