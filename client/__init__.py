"""Thin clients for the WhatsApp delivery-error service.

    from client import ErrorClient, should_retry, retry_after

    with ErrorClient("127.0.0.1:50051") as errors:
        for c in errors.classify(webhook_body).classifications:
            if should_retry(c):
                schedule_resend(c.context.message_id, after=retry_after(c))

`AsyncErrorClient` has the same methods for asyncio. Both return the
generated messages (`whatsapp.errors.v1.error_catalog_pb2`, typed by .pyi).
"""

from __future__ import annotations

from client.aio_client import AsyncErrorClient
from client.config import DEFAULT_TARGET, MAX_MESSAGE_BYTES, ClientConfig, ConfigError
from client.errors import StreamError, describe
from client.retry import retry_after, should_retry
from client.sync_client import ErrorClient

__all__ = [
    "DEFAULT_TARGET",
    "MAX_MESSAGE_BYTES",
    "AsyncErrorClient",
    "ClientConfig",
    "ConfigError",
    "ErrorClient",
    "StreamError",
    "describe",
    "retry_after",
    "should_retry",
]
