"""The ErrorCatalogService servicer: lookups, listings and classification.

Handlers read the current catalog once per call (once per stream), so a live
catalog reload never changes the answers of a call already in flight. The
Classify route runs each layer once: classifier, metrics, encoder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc

from whatsapp_errors.server.classify.classifier import Classifier, ClassifierHolder
from whatsapp_errors.server.classify.found import InputError
from whatsapp_errors.server.rich_status import (
    ServiceError,
    invalid_argument,
    not_found,
)
from whatsapp_errors.server.rpc.batch import answer_batch, answer_batch_paced, summarize_items
from whatsapp_errors.server.rpc.budget import OverBudgetError
from whatsapp_errors.server.rpc.listing import matching, query_words
from whatsapp_errors.server.rpc.pacing import classify_request
from whatsapp_errors.server.rpc.paging import decode_token, encode_token, page_size
from whatsapp_errors.server.rpc.summary import Summary
from whatsapp_errors.server.rpc.wire import WireEncoder
from whatsapp_errors.server.rpc.wire_guard import MAX_BATCH_ITEMS, batch_too_large
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from whatsapp_errors.server.ops.metrics import Metrics

__all__ = ["MAX_BATCH_ITEMS", "ErrorCatalogServicer", "answer_batch"]  # answer_batch: bench/

HELP_LINKS = (
    (
        "Meta's WhatsApp error codes",
        "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes",
    ),
    (
        "Graph API error handling",
        "https://developers.facebook.com/docs/graph-api/guides/error-handling",
    ),
)
"""Where a caller reads about a code the catalog does not know (google.rpc.Help)."""
MAX_BATCH_GET = 1000
"""Most codes one BatchGetErrors call may ask for."""
DEFAULT_UNKNOWN_PAGE = 100
"""Unknown codes ListUnknownCodes returns when the request sets no page_size."""
MAX_UNKNOWN_PAGE = 1000
"""Most unknown codes one ListUnknownCodes answer holds (the tally keeps as many)."""


def _abort_on_error(
    method: Callable[..., Any],
) -> Callable[..., Any]:
    """Turns ServiceError and InputError into a rich status on the call."""

    async def wrapper(self: ErrorCatalogServicer, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except InputError as exc:
            error = invalid_argument([(exc.field, exc.description)])
            await context.abort(error.grpc_code, error.status.message, error.trailing_metadata)
        except ServiceError as exc:
            await context.abort(exc.grpc_code, exc.status.message, exc.trailing_metadata)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class ErrorCatalogServicer(pb_grpc.ErrorCatalogServiceServicer):
    """Serves the catalog and the classifier held by `holder`."""

    def __init__(self, holder: ClassifierHolder, metrics: Metrics) -> None:
        self._holder = holder
        self._answering: tuple[Classifier, WireEncoder] | None = None
        self._metrics = metrics

    def _current(self) -> tuple[Classifier, WireEncoder]:
        """The classifier in use and its response encoder (a new one after a reload)."""
        classifier = self._holder.current
        answering = self._answering
        if answering is None or answering[0] is not classifier:
            answering = self._answering = (classifier, WireEncoder(classifier.version))
        return answering

    # ---- catalog --------------------------------------------------------------

    @_abort_on_error
    async def GetError(
        self, request: pb.GetErrorRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetErrorResponse:
        """One entry by code."""
        classifier = self._holder.current
        if request.code < 0 or request.subcode < 0:
            field = "code" if request.code < 0 else "subcode"
            value = getattr(request, field)
            raise invalid_argument([(field, f"must not be negative, got {value}")])
        if request.subcode:
            info = classifier.messages.pairs.get((request.code, request.subcode))
            if info is None:
                raise _pair_not_found(request.code, request.subcode, classifier.version)
        else:
            info = classifier.messages.primary.get(request.code)
            if info is None:
                raise _code_not_found([request.code], classifier.version)
        return pb.GetErrorResponse(error=info, catalog_version=classifier.version)

    @_abort_on_error
    async def BatchGetErrors(
        self, request: pb.BatchGetErrorsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.BatchGetErrorsResponse:
        """Many entries by code, in request order."""
        classifier = self._holder.current
        codes = list(request.codes)
        if not codes:
            raise invalid_argument([("codes", "give at least one code")])
        if len(codes) > MAX_BATCH_GET:
            raise invalid_argument(
                [("codes", f"at most {MAX_BATCH_GET} codes per call, got {len(codes)}")]
            )
        negative = [(f"codes[{i}]", "must not be negative") for i, c in enumerate(codes) if c < 0]
        if negative:
            raise invalid_argument(negative)
        primary = classifier.messages.primary
        missing = [code for code in codes if code not in primary]
        if missing:
            raise _code_not_found(missing, classifier.version)
        return pb.BatchGetErrorsResponse(
            errors=[primary[code] for code in codes], catalog_version=classifier.version
        )

    @_abort_on_error
    async def ListErrors(
        self, request: pb.ListErrorsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListErrorsResponse:
        """A filtered page of entries."""
        classifier = self._holder.current
        size = page_size(request.page_size)
        words = query_words(request.query)
        filters = f"{request.category}|{request.source}|{' '.join(words)}"
        offset = decode_token(request.page_token, filters)
        found = matching(classifier, request.category, request.source, words)
        page = found[offset : offset + size]
        next_offset = offset + len(page)
        return pb.ListErrorsResponse(
            errors=page,
            next_page_token=encode_token(next_offset, filters) if next_offset < len(found) else "",
            total_size=len(found),
            catalog_version=classifier.version,
        )

    @_abort_on_error
    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCategoriesResponse:
        """The document's categories with their sizes."""
        classifier = self._holder.current
        return pb.ListCategoriesResponse(
            categories=classifier.messages.categories, catalog_version=classifier.version
        )

    # ---- classification -------------------------------------------------------

    @_abort_on_error
    async def Classify(
        self, request: pb.ClassifyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        """One input, one classification per error found.

        Answers with pre-serialised ClassifyResponse bytes (server/rpc/wire.py);
        a listed bare code's bytes are encoded once. A large input is read off
        the loop, within a request budget (server/rpc/pacing.py).
        """
        classifier, encoder = self._current()
        kind = request.WhichOneof("input")
        try:
            if kind == "code":  # the hot path: no budget to keep, nothing to pace
                decisions = classifier.classify_input(request, kind)
            else:
                decisions = await classify_request(classifier, request, kind)
        except InputError:
            self._metrics.invalid_item()
            raise
        self._metrics.classified(decisions)
        if (
            kind == "code"
            and request.code in classifier.catalog.listings
            and not request.HasField("transport")  # a transport's status is per call
        ):
            return encoder.code_response(request.code, decisions)
        return encoder.classify_response(decisions)

    async def ClassifyStream(  # type: ignore[override]  # yields pre-serialised bytes
        self,
        request_iterator: AsyncIterator[pb.ClassifyStreamRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[bytes]:
        """Batches in, answered batches out, one request at a time.

        Each answer is ClassifyStreamResponse bytes composed from cached
        ErrorInfo bytes (server/rpc/wire.py), identical to the message-built ones.
        """
        classifier, encoder = self._current()  # the whole stream answers from one catalog
        metrics = self._metrics
        async for request in request_iterator:
            items = request.items
            if len(items) > MAX_BATCH_ITEMS:
                error = batch_too_large(len(items))
                await context.abort(error.grpc_code, error.status.message, error.trailing_metadata)
            metrics.stream_batch(len(items))
            try:
                answer = await answer_batch_paced(classifier, encoder, items, metrics)
            except OverBudgetError as exc:  # even the items' statuses overflow the answer
                await context.abort(exc.grpc_code, exc.status.message, exc.trailing_metadata)
            yield answer

    @_abort_on_error
    async def ListUnknownCodes(
        self, request: pb.ListUnknownCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListUnknownCodesResponse:
        """The codes met that no entry knows, most frequent first."""
        if request.page_size < 0:
            raise invalid_argument(
                [("page_size", f"must not be negative, got {request.page_size}")]
            )
        limit = min(request.page_size or DEFAULT_UNKNOWN_PAGE, MAX_UNKNOWN_PAGE)
        return self._metrics.unknown.to_message(limit, self._holder.current.version)

    async def SummarizeErrors(
        self,
        request_iterator: AsyncIterator[pb.SummarizeErrorsRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.SummarizeErrorsResponse:
        """A whole broadcast's failures in, one report out."""
        classifier = self._holder.current
        summary = Summary()
        async for request in request_iterator:
            if len(request.items) > MAX_BATCH_ITEMS:
                error = batch_too_large(len(request.items))
                await context.abort(error.grpc_code, error.status.message, error.trailing_metadata)
            try:
                await summarize_items(classifier, request.items, summary, self._metrics)
            except OverBudgetError as exc:
                await context.abort(exc.grpc_code, exc.status.message, exc.trailing_metadata)
        return summary.to_message(classifier.version)


def _code_not_found(codes: list[int], version: str) -> ServiceError:
    listed = ", ".join(str(code) for code in codes[:20])
    more = f" and {len(codes) - 20} more" if len(codes) > 20 else ""
    return not_found(
        f"no catalog entry for code {listed}{more} (catalog {version}); "
        "Classify still answers for unknown codes",
        "CODE_NOT_FOUND",
        {"codes": ",".join(str(code) for code in codes), "catalog_version": version},
        HELP_LINKS,
    )


def _pair_not_found(code: int, subcode: int, version: str) -> ServiceError:
    return not_found(
        f"no catalog entry for code {code} with subcode {subcode} (catalog {version}); "
        "GetError without a subcode answers the code's own entry",
        "CODE_NOT_FOUND",
        {"codes": str(code), "subcode": str(subcode), "catalog_version": version},
        HELP_LINKS,
    )
