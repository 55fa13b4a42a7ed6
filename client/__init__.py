"""Thin clients for the WhatsApp delivery-error service.

    from whatsapp_errors.client import ErrorClient, Unreachable, decide_per_message

    with ErrorClient.from_env() as errors:          # WAERR_TARGET, WAERR_TOKEN, WAERR_TLS_*
        for wamid, decision in decide_per_message(errors.classify(webhook_body)).items():
            if decision.retry:
                schedule_resend(wamid, after=decision.wait)

`AsyncErrorClient` has the same methods for asyncio. Both return the
generated messages (`whatsapp_errors.v1.error_catalog_pb2`, typed by .pyi);
the enums here (`Category.QUOTA`, `RetryStrategy.FIX_TEMPLATE`, ...) equal
their wire values. Failed calls raise the classes of whatsapp_errors.client.errors, all
`grpc.RpcError`s.
"""

from __future__ import annotations

from whatsapp_errors.client.aio_client import AsyncErrorClient
from whatsapp_errors.client.config import (
    DEFAULT_TARGET,
    MAX_MESSAGE_BYTES,
    ClientConfig,
    ConfigError,
)
from whatsapp_errors.client.decisions import MessageDecision, decide, decide_per_message
from whatsapp_errors.client.enums import Actor, Category, MatchKind, RetryStrategy, Source
from whatsapp_errors.client.environment import config_from_env
from whatsapp_errors.client.errors import (
    InputRefused,
    LimitExceeded,
    NotFound,
    ServiceError,
    StreamError,
    TimedOut,
    Unauthenticated,
    Unreachable,
)
from whatsapp_errors.client.retry import retry_after, should_retry
from whatsapp_errors.client.status import describe
from whatsapp_errors.client.sync_client import ErrorClient
from whatsapp_errors.client.version import version

__all__ = [
    "DEFAULT_TARGET",
    "MAX_MESSAGE_BYTES",
    "Actor",
    "AsyncErrorClient",
    "Category",
    "ClientConfig",
    "ConfigError",
    "ErrorClient",
    "InputRefused",
    "LimitExceeded",
    "MatchKind",
    "MessageDecision",
    "NotFound",
    "RetryStrategy",
    "ServiceError",
    "Source",
    "StreamError",
    "TimedOut",
    "Unauthenticated",
    "Unreachable",
    "config_from_env",
    "decide",
    "decide_per_message",
    "describe",
    "retry_after",
    "should_retry",
    "version",
]
