"""Reading request messages for the admission wrapper: checked, decoded, never idle for long.

grpcio would decode requests itself and answer a bad one with UNKNOWN; the
admission wrapper (server/ops/admission.py) hands the raw bytes here
instead, so a bad one is INVALID_ARGUMENT naming what is wrong, a method's
raw-bytes check (server/rpc/wire_guard.py) can refuse one before it is
parsed, and a stream that stops sending is ended rather than held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from whatsapp_errors.server.rich_status import ServiceError

Context = Any  # grpc.aio.ServicerContext
Decode = Callable[[bytes], Any]
Check = tuple[int, Callable[[bytes], None]]
"""(above, look): `look` sees a request's raw bytes when there are more than `above` of
them, and raises ServiceError to refuse it unparsed; smaller ones are not looked at."""
Read = Callable[[Any, Context], Any]
"""Turns what grpcio hands the handler (bytes, or an iterator of them) into messages."""


def checked(check: Check, decode: Decode) -> Decode:
    """`decode` after `check` has seen the raw bytes (it raises ServiceError to refuse)."""
    above, look = check

    def decode_checked(raw: bytes) -> Any:
        if len(raw) > above:  # every call passes here: small requests skip the call
            look(raw)
        return decode(raw)

    return decode_checked


def unary_in(decode: Decode | None) -> Read:
    """Decodes a unary request (DecodeError if it cannot be)."""

    def read(raw: Any, context: Context) -> Any:
        return raw if decode is None else decode(raw)

    return read


def stream_in(decode: Decode | None, note: Callable[[str], None], idle: float | None) -> Read:
    """Decodes each message of a request stream as the handler reads it.

    Waiting for a message longer than `idle` seconds ends the stream; the
    clock runs only while the handler waits for the client, never while it
    works or writes.
    """

    def read(raw_iterator: Any, context: Context) -> Any:
        if decode is None and idle is None:
            return raw_iterator

        async def decoded() -> AsyncIterator[Any]:
            messages = raw_iterator.__aiter__()
            while True:
                try:
                    async with asyncio.timeout(idle):
                        raw = await messages.__anext__()
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    note("idle_stream")
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        f"no request message for {idle:g}s (--stream-idle-timeout): the stream "
                        "is closed; open a new one when there is work",
                    )
                if decode is None:
                    yield raw
                    continue
                try:
                    message = decode(raw)
                except DecodeError as exc:
                    note("undecodable_request")
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, undecodable(exc))
                except ServiceError as exc:
                    note("unparsed_request")
                    await context.abort(exc.grpc_code, exc.status.message, exc.trailing_metadata)
                yield message

        return decoded()

    return read


def undecodable(exc: DecodeError) -> str:
    return f"the request is not a valid protobuf message: {exc}"
