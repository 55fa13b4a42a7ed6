"""The asyncio client against real servers: every method, async inputs, replicas, failures.

Each test runs its own event loop (asyncio.run) with its own channel, the
way a caller's service would; servers run in their own threads and loops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import grpc
import pytest

from tests.conftest import ServerThread
from tests.test_client import (
    CURL_TIMEOUT,
    GRAPH_ERROR,
    STATUS_WEBHOOK,
    counted_servers,
    stream_inputs,
)
from whatsapp_errors.client import (
    AsyncErrorClient,
    StreamError,
    describe,
    retry_after,
    should_retry,
)
from whatsapp_errors.v1 import error_catalog_pb2 as pb

T = TypeVar("T")


def run(server: ServerThread | str, body: Callable[[AsyncErrorClient], Awaitable[T]]) -> T:
    """Runs `body` with a fresh AsyncErrorClient in a fresh event loop."""
    target = server if isinstance(server, str) else server.target

    async def main() -> T:
        async with AsyncErrorClient(target) as errors:
            return await body(errors)

    return asyncio.run(main())


def test_catalog_methods(server: ServerThread) -> None:
    async def body(errors: AsyncErrorClient) -> None:
        assert (await errors.get_error(131047)).error.reason == "Re-engagement message"
        codes = [132001, 131047] * 600
        assert [e.code for e in (await errors.get_errors(codes)).errors] == codes
        page = await errors.list_errors_page(page_size=5)
        every = [info async for info in errors.list_errors(page_size=5)]
        assert len(every) == page.total_size and every[:5] == list(page.errors)
        quota = [info async for info in errors.list_errors(category=pb.CATEGORY_QUOTA)]
        assert quota and {e.category for e in quota} == {pb.CATEGORY_QUOTA}
        assert 130429 in [info.code async for info in errors.search("rate limit")]
        assert len((await errors.categories()).categories) == 11
        with pytest.raises(grpc.RpcError) as caught:
            await errors.get_error(999)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert "999" in describe(caught.value)

    run(server, body)


def test_classify_and_helpers(server: ServerThread) -> None:
    async def body(errors: AsyncErrorClient) -> None:
        response = await errors.classify(STATUS_WEBHOOK)
        window_closed, rate_limit = response.classifications
        assert window_closed.error_info.code == 131047 and not should_retry(window_closed)
        assert retry_after(rate_limit) == timedelta(seconds=60)
        timeout = (await errors.classify(CURL_TIMEOUT)).classifications[0]
        assert retry_after(timeout, attempt=1) == timedelta(seconds=10)
        assert (await errors.classify(132001)).classifications[0].error_info.code == 132001
        with pytest.raises(grpc.RpcError) as caught:
            await errors.classify(b"[1, 2]")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    run(server, body)


def test_classify_stream_from_an_async_iterable_keeps_order(server: ServerThread) -> None:
    async def inputs() -> AsyncIterator[Any]:
        for i in range(3000):
            yield b"{bad" if i % 100 == 7 else GRAPH_ERROR
            if i % 500 == 0:
                await asyncio.sleep(0)

    async def body(errors: AsyncErrorClient) -> list[pb.ClassifyResult]:
        return [r async for r in errors.classify_stream(inputs(), batch_size=200)]

    results = run(server, body)
    assert [r.id for r in results] == [str(i) for i in range(3000)]
    bad = [int(r.id) for r in results if r.status.code != 0]
    assert bad == [i for i in range(3000) if i % 100 == 7]
    assert all(r.classifications[0].error_info.code == 132001 for r in results if not r.status.code)


def test_classify_stream_is_lazy_and_closes(server: ServerThread) -> None:
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield GRAPH_ERROR

    async def body(errors: AsyncErrorClient) -> None:
        stream = errors.classify_stream(endless(), batch_size=50, window=2)
        ids = []
        async for result in stream:
            ids.append(result.id)
            if len(ids) == 120:
                break
        await stream.aclose()
        assert ids == [str(i) for i in range(120)]
        assert pulled <= 50 * (2 + 1) + 120, pulled

    run(server, body)


def test_summarize(server: ServerThread) -> None:
    async def inputs() -> AsyncIterator[Any]:
        for value in [GRAPH_ERROR, b"{bad", CURL_TIMEOUT] * 500:
            yield value

    async def body(errors: AsyncErrorClient) -> pb.SummarizeErrorsResponse:
        return await errors.summarize(inputs())

    summary = run(server, body)
    assert (summary.total_items, summary.invalid_items, summary.total_errors) == (1500, 500, 1000)


def test_round_robin_reaches_three_replicas() -> None:
    servers = counted_servers(3)
    try:

        async def body(errors: AsyncErrorClient) -> None:
            counters = [c for _, c in servers]
            deadline = time.monotonic() + 10
            while not all(counter.calls for counter in counters):  # until all are connected
                assert time.monotonic() < deadline
                await errors.get_error(131047)
            for counter in counters:
                counter.calls.clear()
            await asyncio.gather(*(errors.get_error(131047) for _ in range(30)))

        run(",".join(s.target for s, _ in servers), body)
        counts = [counter.calls.count("GetError") for _, counter in servers]
        assert sum(counts) == 30 and all(count >= 5 for count in counts), counts
    finally:
        for thread, _ in servers:
            thread.stop(grace=0.5)


def test_stream_survives_its_replica_stopping() -> None:
    servers = counted_servers(2)
    victim = None
    total = 20_000

    async def body(errors: AsyncErrorClient) -> list[int]:
        nonlocal victim
        await errors.wait_ready()
        ids = []
        async for result in errors.classify_stream(stream_inputs(total), batch_size=100):
            ids.append(int(result.id))
            if len(ids) == 1000:
                victim = next(s for s, c in servers if "ClassifyStream" in c.calls)
                await asyncio.to_thread(victim.stop, 0.0)
        return ids

    try:
        assert run(",".join(s.target for s, _ in servers), body) == list(range(total))
        assert all("ClassifyStream" in c.calls for _, c in servers)
    finally:
        for thread, _ in servers:
            if thread is not victim:
                thread.stop(grace=0.5)


def test_stream_on_a_stopped_server_fails_clearly() -> None:
    ((thread, _),) = counted_servers(1)

    async def body(errors: AsyncErrorClient) -> None:
        count = 0
        async for _result in errors.classify_stream(stream_inputs(10**7)):
            count += 1
            if count == 1000:
                await asyncio.to_thread(thread.stop, 0.0)

    started = time.monotonic()
    with pytest.raises(StreamError) as caught:
        run(thread.target, body)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "ClassifyStream failed after" in str(caught.value)
    assert time.monotonic() - started < 15


def test_stalled_stream_times_out(stalled_server: ServerThread) -> None:
    async def main() -> None:
        async with AsyncErrorClient(stalled_server.target, timeout=0.5) as errors:
            with pytest.raises(grpc.RpcError) as unary:
                await errors.get_error(131047)
            assert unary.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            with pytest.raises(StreamError) as caught:
                async for _ in errors.classify_stream(stream_inputs(10)):
                    pass
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def stalled_server() -> Iterator[ServerThread]:
    from tests.test_client import NeverAnswers
    from whatsapp_errors.server.app import ServerConfig

    thread = ServerThread(ServerConfig(interceptors=[NeverAnswers()])).start()
    yield thread
    thread.stop(grace=0.1)


def test_pairs_unknown_codes_transport_and_items(server: ServerThread) -> None:
    """GetError with a subcode, ListUnknownCodes, a transport, and a ClassifyItem as input."""

    async def body(errors: AsyncErrorClient) -> None:
        pair = (await errors.get_error(190, subcode=463)).error
        assert pair.retry_strategy == pb.RETRY_STRATEGY_REFRESH_TOKEN
        await errors.classify(pb.StructuredError(code=987_001, title="Brand new"))
        tallied = await errors.list_unknown_codes(1000)
        assert 987_001 in [c.code for c in tallied.codes]
        transport = pb.Transport(http_status=429, headers={"Retry-After": "120"})
        [found] = (await errors.classify(130429, transport=transport)).classifications
        assert found.context.http_status == 429 and found.retry_after.seconds == 120
        item = pb.ClassifyItem(id="x", error=pb.StructuredError(code=131047))
        [from_item] = (await errors.classify(item)).classifications
        assert from_item.error_info.code == 131047

    run(server, body)
