"""The service's own Classify handler on grpcio's synchronous server: what the stack costs.

The service runs on grpc.aio. With the same empty handlers, grpcio's thread-
pool server answers for ~2.6x less CPU per call (bench/reference_sync.py),
so the question for the next step is whether our handler keeps that lead.
This serves `Classify` and `ClassifyStream` only — no admission limit,
auth, metrics or reload; health so the benchmark can wait for it — by
calling the servicer's real coroutines (`ErrorCatalogServicer.Classify`,
its error mapping included, and the `ClassifyStream` async generator fed
from the sync request iterator) and driving them to completion without an
event loop: on their answering paths they never suspend, and on their
error paths `context.abort` raises before the await. It is a measuring
instrument, not a way to run the service. `python -m bench.servers.classify_sync
--port P`; bench/h2load.py measures its unary calls.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health

from bench.servers.reference_sync import build_sync, serve
from server.catalog.loader import load_catalog
from server.classify.classifier import Classifier
from server.rpc import wire
from server.rpc.service import ClassifierHolder, ErrorCatalogServicer
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)


def run_to_completion(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The coroutine's result, if it finishes without suspending (else RuntimeError)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the handler suspended: it needs an event loop")


class NeverSuspends:
    """A sync iterator as an async one whose `__anext__` finishes without suspending."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items

    def __aiter__(self) -> NeverSuspends:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None


def iterate_to_completion(responses: AsyncIterator[Any]) -> Iterator[Any]:
    """The items of an async generator that never suspends, as a sync generator."""
    while True:
        step = responses.__anext__()
        try:
            step.send(None)  # type: ignore[attr-defined]  # an async generator's awaitable
        except StopIteration as yielded:
            yield yielded.value
            continue
        except StopAsyncIteration:
            return
        step.close()  # type: ignore[attr-defined]
        raise RuntimeError("the handler suspended: it needs an event loop")


class AbortingContext:
    """A sync ServicerContext with grpc.aio's `abort(code, details, trailing_metadata)`."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context

    def abort(
        self, code: grpc.StatusCode, details: str, trailing_metadata: Sequence[Any] = ()
    ) -> None:
        if trailing_metadata:
            self._context.set_trailing_metadata(trailing_metadata)
        self._context.abort(code, details)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def build(address: str) -> tuple[grpc.Server, health.HealthServicer]:
    """A sync server answering Classify and ClassifyStream with the service's handlers."""
    servicer = ErrorCatalogServicer(ClassifierHolder(Classifier(load_catalog())))

    def classify(request: pb.ClassifyRequest, context: grpc.ServicerContext) -> bytes:
        answer: bytes = run_to_completion(servicer.Classify(request, AbortingContext(context)))
        return answer

    def classify_stream(
        requests: Iterator[pb.ClassifyStreamRequest], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        answers = servicer.ClassifyStream(NeverSuspends(requests), AbortingContext(context))
        return iterate_to_completion(answers)

    methods = {
        "Classify": grpc.unary_unary_rpc_method_handler(
            classify,
            request_deserializer=pb.ClassifyRequest.FromString,
            response_serializer=wire.serialize,
        ),
        "ClassifyStream": grpc.stream_stream_rpc_method_handler(
            classify_stream,
            request_deserializer=pb.ClassifyStreamRequest.FromString,
            response_serializer=wire.serialize,
        ),
    }
    return build_sync(address, methods)


def main() -> None:
    """Serves until killed."""
    serve("python -m bench.servers.classify_sync", build)


if __name__ == "__main__":
    main()
