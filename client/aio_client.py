"""The asyncio client: the same methods as ErrorClient, awaited, on a grpc.aio channel.

    async with AsyncErrorClient("dns:///errors.internal:50051") as errors:
        response = await errors.classify(webhook_body)
        async for result in errors.classify_stream(bodies):   # iterable or async iterable
            ...

ClassifyStream works as in whatsapp_errors.client.sync_stream: at most `window` batches out,
unanswered batches resent on a new stream after a break, and a stall
timeout per batch instead of a deadline for the whole stream.
"""

# `timeout` is the gRPC deadline the server also sees, as in grpc.aio itself, not a local wait:
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, cast

import grpc

from whatsapp_errors.client import config as cfg
from whatsapp_errors.client import environment
from whatsapp_errors.client.aio_stream import AsyncStream
from whatsapp_errors.client.errors import raising_service_errors
from whatsapp_errors.client.inputs import (
    DEFAULT_BATCH_ITEMS,
    MAX_BATCH_ITEMS,
    Batcher,
    Input,
    batch_get_requests,
    classify_item,
    classify_request,
)
from whatsapp_errors.client.inputs import item_batches as sync_item_batches
from whatsapp_errors.client.stream_state import DEFAULT_WINDOW
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

_UNSET: Any = object()
Inputs = Iterable[Input] | AsyncIterable[Input]


def open_channel(config: cfg.ClientConfig) -> grpc.aio.Channel:
    """An asyncio channel with the same arguments as the sync one."""
    target = cfg.grpc_target(config.target)
    options = cfg.channel_options(config)
    creds = cfg.channel_credentials(config)
    if creds is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, creds, options=options)


async def item_batches(
    values: Inputs, batch_size: int = DEFAULT_BATCH_ITEMS
) -> AsyncIterator[list[pb.ClassifyItem]]:
    """Like whatsapp_errors.client.inputs.item_batches, for iterables and async iterables alike."""
    if not isinstance(values, AsyncIterable):
        for ready in sync_item_batches(values, batch_size):
            yield ready
        return
    batcher = Batcher(batch_size)
    index = 0
    async for value in values:
        batch = batcher.add(classify_item(str(index), value))
        index += 1
        if batch:
            yield batch
    last = batcher.flush()
    if last:
        yield last


class AsyncErrorClient:
    """Calls ErrorCatalogService from asyncio code; use as an async context manager."""

    def __init__(
        self,
        target: str | Sequence[str] | cfg.ClientConfig = cfg.DEFAULT_TARGET,
        **options: Any,
    ) -> None:
        """`options` are ClientConfig fields; create it inside the running event loop."""
        self.config = (
            target if isinstance(target, cfg.ClientConfig) else cfg.ClientConfig(target, **options)
        )
        self.channel = open_channel(self.config)
        # The generated module has one Stub class; its .pyi types the asyncio flavour apart.
        self.stub = cast(
            "pb_grpc.ErrorCatalogServiceAsyncStub", pb_grpc.ErrorCatalogServiceStub(self.channel)
        )
        self._metadata = cfg.call_metadata(self.config)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> AsyncErrorClient:
        """A client configured from WAERR_TARGET, WAERR_TOKEN and WAERR_TLS_*.

        Create it inside the running event loop. `options` (ClientConfig fields) win over
        the environment; see whatsapp_errors.client.environment.
        """
        return cls(environment.config_from_env(environ, **options))

    async def __aenter__(self) -> AsyncErrorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self.channel.close()

    def _timeout(self, timeout: float | None) -> float | None:
        return self.config.timeout if timeout is _UNSET else timeout

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until the channel connects (TimeoutError after `timeout` s)."""
        await asyncio.wait_for(self.channel.channel_ready(), timeout)

    # ---- catalog ------------------------------------------------------------

    async def get_error(
        self, code: int, *, subcode: int = 0, timeout: float | None = _UNSET
    ) -> pb.GetErrorResponse:
        """One entry (with `subcode`: the (code, subcode) pair's); NotFound when none."""
        with raising_service_errors():
            return await self.stub.GetError(  # type: ignore[no-any-return]
                pb.GetErrorRequest(code=code, subcode=subcode),
                timeout=self._timeout(timeout),
                metadata=self._metadata,
            )

    async def get_errors(
        self, codes: Iterable[int], *, timeout: float | None = _UNSET
    ) -> pb.BatchGetErrorsResponse:
        """Many entries in the order asked, in calls of at most 1000 codes."""
        merged = pb.BatchGetErrorsResponse()
        for request in batch_get_requests(codes):
            with raising_service_errors():
                part = await self.stub.BatchGetErrors(
                    request, timeout=self._timeout(timeout), metadata=self._metadata
                )
            merged.errors.extend(part.errors)
            merged.catalog_version = part.catalog_version
        return merged

    async def list_errors_page(
        self,
        *,
        category: int = pb.CATEGORY_UNSPECIFIED,
        query: str = "",
        source: int = pb.SOURCE_UNSPECIFIED,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = _UNSET,
    ) -> pb.ListErrorsResponse:
        """One page of ListErrors, as the server returns it (`category`: a Category, ...)."""
        request = pb.ListErrorsRequest(
            category=pb.Category.ValueType(category),
            query=query,
            source=pb.Source.ValueType(source),
            page_size=page_size,
            page_token=page_token,
        )
        with raising_service_errors():
            return await self.stub.ListErrors(  # type: ignore[no-any-return]
                request, timeout=self._timeout(timeout), metadata=self._metadata
            )

    async def list_errors(
        self,
        *,
        category: int = pb.CATEGORY_UNSPECIFIED,
        query: str = "",
        source: int = pb.SOURCE_UNSPECIFIED,
        page_size: int = 500,
        timeout: float | None = _UNSET,
    ) -> AsyncIterator[pb.ErrorInfo]:
        """Every matching entry, page after page."""
        token = ""
        while True:
            page = await self.list_errors_page(
                category=category,
                query=query,
                source=source,
                page_size=page_size,
                page_token=token,
                timeout=timeout,
            )
            for info in page.errors:
                yield info
            token = page.next_page_token
            if not token:
                return

    def search(self, query: str, **filters: Any) -> AsyncIterator[pb.ErrorInfo]:
        """Entries whose reason, description or action hold every word of `query`."""
        return self.list_errors(query=query, **filters)

    async def list_unknown_codes(
        self, page_size: int = 0, *, timeout: float | None = _UNSET
    ) -> pb.ListUnknownCodesResponse:
        """The codes the server met that no entry knows, most frequent first (0: 100)."""
        with raising_service_errors():
            return await self.stub.ListUnknownCodes(  # type: ignore[no-any-return]
                pb.ListUnknownCodesRequest(page_size=page_size),
                timeout=self._timeout(timeout),
                metadata=self._metadata,
            )

    async def categories(self, *, timeout: float | None = _UNSET) -> pb.ListCategoriesResponse:
        """The document's categories with descriptions and code counts."""
        with raising_service_errors():
            return await self.stub.ListCategories(  # type: ignore[no-any-return]
                pb.ListCategoriesRequest(), timeout=self._timeout(timeout), metadata=self._metadata
            )

    # ---- classification -----------------------------------------------------

    async def classify(
        self,
        value: Input,
        *,
        transport: pb.Transport | None = None,
        timeout: float | None = _UNSET,
    ) -> pb.ClassifyResponse:
        """One failure (code, body, text, dict, ...): one classification per error found.

        `transport` carries the HTTP status and headers the failure came with
        (Retry-After and Meta's usage headers set each classification's wait).
        """
        with raising_service_errors():
            return await self.stub.Classify(  # type: ignore[no-any-return]
                classify_request(value, transport),
                timeout=self._timeout(timeout),
                metadata=self._metadata,
            )

    async def classify_stream(
        self,
        values: Inputs,
        *,
        batch_size: int = DEFAULT_BATCH_ITEMS,
        window: int = DEFAULT_WINDOW,
        timeout: float | None = _UNSET,
    ) -> AsyncGenerator[pb.ClassifyResult, None]:
        """One result per input, in input order, yielded as batches are answered."""
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        stream = AsyncStream(
            self.stub.ClassifyStream,
            item_batches(values, batch_size),
            window,
            self._timeout(timeout),
            self._metadata,
        )
        results = stream.results()
        try:
            async for result in results:
                yield result
        finally:
            await results.aclose()  # cancels the call when the caller stops early

    async def summarize(
        self,
        values: Inputs,
        *,
        batch_size: int = MAX_BATCH_ITEMS,
        timeout: float | None = None,
    ) -> pb.SummarizeErrorsResponse:
        """One report for all inputs (no deadline by default, as in ErrorClient.summarize)."""
        call = self.stub.SummarizeErrors(timeout=timeout, metadata=self._metadata)
        with raising_service_errors():
            try:
                async for batch in item_batches(values, batch_size):
                    await call.write(pb.SummarizeErrorsRequest(items=batch))
                await call.done_writing()
            except (grpc.RpcError, asyncio.InvalidStateError):
                # A write on a call the server already ended: grpc.aio says INTERNAL "execute_batch"
                # (grpc/grpc#36066); the call's own status (UNAUTHENTICATED, ...) is the answer.
                if not call.done():
                    call.cancel()
                    raise
            except BaseException:
                call.cancel()
                raise
            return await call  # type: ignore[no-any-return]
