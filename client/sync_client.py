"""The synchronous client: one channel, every RPC, the generated messages back.

    with ErrorClient("10.0.0.5:50051,10.0.0.6:50051") as errors:
        info = errors.get_error(131047).error
        for result in errors.classify_stream(webhook_bodies):
            ...

Failed calls raise the client's own classes (whatsapp_errors.client.errors: Unreachable only
after the channel's retries, InputRefused, NotFound, ...), all `grpc.RpcError`s;
streams raise `StreamError`, which is also the class of its cause.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc

from whatsapp_errors.client import config as cfg
from whatsapp_errors.client import environment
from whatsapp_errors.client.errors import raising_service_errors
from whatsapp_errors.client.inputs import (
    DEFAULT_BATCH_ITEMS,
    MAX_BATCH_ITEMS,
    Guarded,
    Input,
    batch_get_requests,
    check_batch_size,
    classify_request,
    item_batches,
)
from whatsapp_errors.client.stream_state import DEFAULT_WINDOW
from whatsapp_errors.client.sync_stream import classify_stream
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

_UNSET: Any = object()


def open_channel(config: cfg.ClientConfig) -> grpc.Channel:
    """A sync channel configured as the module docstring of whatsapp_errors.client.config says."""
    target = cfg.grpc_target(config.target)
    options = cfg.channel_options(config)
    creds = cfg.channel_credentials(config)
    if creds is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, creds, options=options)


class ErrorClient:
    """Calls ErrorCatalogService; give a target (or a ClientConfig) and use as a context manager."""

    def __init__(
        self,
        target: str | Sequence[str] | cfg.ClientConfig = cfg.DEFAULT_TARGET,
        **options: Any,
    ) -> None:
        """`options` are ClientConfig fields (timeout, tls_ca, token, ...)."""
        self.config = (
            target if isinstance(target, cfg.ClientConfig) else cfg.ClientConfig(target, **options)
        )
        self.channel = open_channel(self.config)
        self.stub = pb_grpc.ErrorCatalogServiceStub(self.channel)
        self._metadata = cfg.call_metadata(self.config)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> ErrorClient:
        """A client configured from WAERR_TARGET, WAERR_TOKEN and WAERR_TLS_*.

        `options` (ClientConfig fields) win over the environment; see client/environment.py.
        """
        return cls(environment.config_from_env(environ, **options))

    def __enter__(self) -> ErrorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self.channel.close()

    def _timeout(self, timeout: float | None) -> float | None:
        return self.config.timeout if timeout is _UNSET else timeout

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel connects (grpc.FutureTimeoutError after `timeout` s)."""
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    # ---- catalog ------------------------------------------------------------

    def get_error(
        self, code: int, *, subcode: int = 0, timeout: float | None = _UNSET
    ) -> pb.GetErrorResponse:
        """One entry (with `subcode`: the (code, subcode) pair's); NotFound when none."""
        with raising_service_errors():
            return self.stub.GetError(  # type: ignore[no-any-return]
                pb.GetErrorRequest(code=code, subcode=subcode),
                timeout=self._timeout(timeout),
                metadata=self._metadata,
            )

    def get_errors(
        self, codes: Iterable[int], *, timeout: float | None = _UNSET
    ) -> pb.BatchGetErrorsResponse:
        """Many entries in the order asked, in calls of at most 1000 codes."""
        merged = pb.BatchGetErrorsResponse()
        for request in batch_get_requests(codes):
            with raising_service_errors():
                part = self.stub.BatchGetErrors(
                    request, timeout=self._timeout(timeout), metadata=self._metadata
                )
            merged.errors.extend(part.errors)
            merged.catalog_version = part.catalog_version
        return merged

    def list_errors_page(
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
            return self.stub.ListErrors(  # type: ignore[no-any-return]
                request, timeout=self._timeout(timeout), metadata=self._metadata
            )

    def list_errors(
        self,
        *,
        category: int = pb.CATEGORY_UNSPECIFIED,
        query: str = "",
        source: int = pb.SOURCE_UNSPECIFIED,
        page_size: int = 500,
        timeout: float | None = _UNSET,
    ) -> Iterator[pb.ErrorInfo]:
        """Every matching entry, page after page (each page its own call and deadline)."""
        token = ""
        while True:
            page = self.list_errors_page(
                category=category,
                query=query,
                source=source,
                page_size=page_size,
                page_token=token,
                timeout=timeout,
            )
            yield from page.errors
            token = page.next_page_token
            if not token:
                return

    def search(self, query: str, **filters: Any) -> Iterator[pb.ErrorInfo]:
        """Entries whose reason, description or action hold every word of `query`."""
        return self.list_errors(query=query, **filters)

    def list_unknown_codes(
        self, page_size: int = 0, *, timeout: float | None = _UNSET
    ) -> pb.ListUnknownCodesResponse:
        """The codes the server met that no entry knows, most frequent first (0: 100)."""
        with raising_service_errors():
            return self.stub.ListUnknownCodes(  # type: ignore[no-any-return]
                pb.ListUnknownCodesRequest(page_size=page_size),
                timeout=self._timeout(timeout),
                metadata=self._metadata,
            )

    def categories(self, *, timeout: float | None = _UNSET) -> pb.ListCategoriesResponse:
        """The document's categories with descriptions and code counts."""
        with raising_service_errors():
            return self.stub.ListCategories(  # type: ignore[no-any-return]
                pb.ListCategoriesRequest(), timeout=self._timeout(timeout), metadata=self._metadata
            )

    # ---- classification -----------------------------------------------------

    def classify(
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
            return self.stub.Classify(  # type: ignore[no-any-return]
                classify_request(value, transport),
                timeout=self._timeout(timeout),
                metadata=self._metadata,
            )

    def classify_stream(
        self,
        values: Iterable[Input],
        *,
        batch_size: int = DEFAULT_BATCH_ITEMS,
        window: int = DEFAULT_WINDOW,
        timeout: float | None = _UNSET,
    ) -> Generator[pb.ClassifyResult, None, None]:
        """One result per input, in input order, yielded as batches are answered.

        Ids are "0", "1", ... (a ClassifyItem keeps its own). A bad item gets a
        non-OK `status` and the stream goes on. `timeout` bounds the wait for
        each batch's answer, not the whole stream.
        """
        return classify_stream(
            self.stub.ClassifyStream,
            item_batches(values, batch_size),
            window=window,
            timeout=self._timeout(timeout),
            metadata=self._metadata,
        )

    def summarize(
        self,
        values: Iterable[Input],
        *,
        batch_size: int = MAX_BATCH_ITEMS,
        timeout: float | None = None,
    ) -> pb.SummarizeErrorsResponse:
        """One report for all inputs: counts by category, strategy, code, match kind, actor.

        No deadline by default: the answer comes only after the whole input
        was sent, however long it is.
        """
        check_batch_size(batch_size)
        requests = Guarded(
            pb.SummarizeErrorsRequest(items=batch) for batch in item_batches(values, batch_size)
        )
        with raising_service_errors():
            summary: pb.SummarizeErrorsResponse = self.stub.SummarizeErrors(
                iter(requests), timeout=timeout, metadata=self._metadata
            )
        requests.reraise()
        return summary
