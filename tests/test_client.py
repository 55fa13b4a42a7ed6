"""The sync client against real servers: every method, replicas, failures, TLS and token.

Replicas are real servers counting their calls with a server interceptor, so
round-robin is proven by traffic on each, not assumed. Failures are real
too: a server stopped in the middle of a stream, a server that never answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import struct_pb2

from tests.conftest import ServerThread
from tests.support.certs import Authority
from whatsapp_errors.client import (
    ClientConfig,
    ErrorClient,
    StreamError,
    describe,
    retry_after,
    should_retry,
)
from whatsapp_errors.client.config import ConfigError, grpc_target
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.ops.security import TlsFiles
from whatsapp_errors.v1 import error_catalog_pb2 as pb

TOKEN = "client-test-token-7d1e"
STATUS_WEBHOOK: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "metadata": {"phone_number_id": "106540352242922"},
                        "statuses": [
                            {
                                "id": "wamid.one",
                                "status": "failed",
                                "timestamp": "1689380458",
                                "recipient_id": "15551234567",
                                "errors": [{"code": 131047, "title": "Re-engagement message"}],
                            },
                            {
                                "id": "wamid.two",
                                "status": "failed",
                                "timestamp": "1689380460",
                                "recipient_id": "15559876543",
                                "errors": [{"code": 130429, "title": "Rate limit hit"}],
                            },
                        ],
                    },
                }
            ],
        }
    ],
}
GRAPH_ERROR = b'{"error": {"code": 132001, "message": "(#132001) Template name does not exist"}}'
CURL_TIMEOUT = "cURL error 28: Operation timed out after 30001 milliseconds"


class CallCounter(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts the calls one server receives, by method name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        self.calls.append(details.method.rsplit("/", 1)[-1])
        return await continuation(details)


class NeverAnswers(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """A stalled server: GetError sleeps; ClassifyStream reads every batch and answers none."""

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if details.method.endswith("/GetError"):

            async def slow(request: Any, context: Any) -> Any:
                await asyncio.sleep(5)
                return await handler.unary_unary(request, context)

            return handler._replace(unary_unary=slow)
        if details.method.endswith("/ClassifyStream"):

            async def stalled(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[bytes]:
                async for _ in requests:
                    pass
                await asyncio.sleep(60)
                yield b""  # never reached

            return handler._replace(stream_stream=stalled)
        return handler


def counted_servers(count: int) -> list[tuple[ServerThread, CallCounter]]:
    """`count` real servers, each with its own call counter."""
    servers = []
    for _ in range(count):
        counter = CallCounter()
        servers.append((ServerThread(ServerConfig(interceptors=[counter])).start(), counter))
    return servers


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def all_connected(call: Callable[[], object], counters: list[CallCounter]) -> None:
    """Calls until every replica has answered once: round-robin only uses connected ones."""
    deadline = time.monotonic() + 10
    while not all(counter.calls for counter in counters):
        assert time.monotonic() < deadline, [len(c.calls) for c in counters]
        call()
    for counter in counters:
        counter.calls.clear()


def stream_inputs(count: int) -> Iterator[bytes]:
    """`count` Graph API error bodies, lazily."""
    return (GRAPH_ERROR for _ in range(count))


@pytest.fixture(scope="module")
def client(server: ServerThread) -> Iterator[ErrorClient]:
    with ErrorClient(server.target) as errors:
        yield errors


# ---- catalog ----------------------------------------------------------------------


def test_get_error_returns_the_entry(client: ErrorClient) -> None:
    response = client.get_error(131047)
    assert isinstance(response, pb.GetErrorResponse)
    assert response.error.category == pb.CATEGORY_BUSINESS_ACCOUNT
    assert response.error.reason == "Re-engagement message"
    assert response.catalog_version


def test_get_error_unknown_is_not_found_with_a_clear_description(client: ErrorClient) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.get_error(999)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert describe(caught.value).startswith("NOT_FOUND: no catalog entry for code 999")


def test_get_errors_keeps_order_and_splits_past_1000_codes(client: ErrorClient) -> None:
    assert [e.code for e in client.get_errors([132001, 131047]).errors] == [132001, 131047]
    codes = [131047, 132001, 130429] * 500  # 1500 codes: two calls
    response = client.get_errors(codes)
    assert [e.code for e in response.errors] == codes


def test_list_errors_walks_every_page(client: ErrorClient) -> None:
    first = client.list_errors_page(page_size=7)
    assert first.next_page_token
    every = list(client.list_errors(page_size=7))
    assert len(every) == first.total_size
    assert every[:7] == list(first.errors)


def test_list_by_category_and_search(client: ErrorClient) -> None:
    quota = list(client.list_errors(category=pb.CATEGORY_QUOTA))
    assert quota and all(e.category == pb.CATEGORY_QUOTA for e in quota)
    found = list(client.search("rate limit"))
    assert 130429 in [e.code for e in found]


def test_categories(client: ErrorClient) -> None:
    categories = client.categories().categories
    assert len(categories) == 11
    assert {c.display_name for c in categories} >= {"Quota Errors", "Rate Limit Errors"}


# ---- classify ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        (131047, [131047]),
        (orjson.dumps(STATUS_WEBHOOK), [131047, 130429]),
        (STATUS_WEBHOOK, [131047, 130429]),
        (CURL_TIMEOUT, [113001]),
        (pb.StructuredError(code=132001, title="Template name does not exist"), [132001]),
        (_struct({"error": {"code": 132001, "message": "no template"}}), [132001]),
    ],
    ids=["code", "bytes", "dict", "text", "structured", "struct"],
)
def test_classify_takes_every_input_kind(client: ErrorClient, value: Any, codes: list[int]) -> None:
    response = client.classify(value)
    assert [c.error_info.code for c in response.classifications][: len(codes)] == codes


def test_classify_bad_json_names_the_problem(client: ErrorClient) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.classify(b"{not json")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "payload" in describe(caught.value)


def test_classify_rejects_what_it_cannot_send(client: ErrorClient) -> None:
    with pytest.raises(TypeError, match="cannot classify a float"):
        client.classify(1.5)  # type: ignore[arg-type]


def test_classify_stream_keeps_order_ids_and_bad_items(client: ErrorClient) -> None:
    inputs: list[Any] = [GRAPH_ERROR, b"{bad", 131047, CURL_TIMEOUT] * 300  # 1200 items
    results = list(client.classify_stream(inputs, batch_size=128))
    assert [r.id for r in results] == [str(i) for i in range(len(inputs))]
    for value, result in zip(inputs, results, strict=True):
        if value == b"{bad":
            assert result.status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert "JSON" in result.status.message
        else:
            assert result.status.code == 0
            assert result.classifications


def test_classify_stream_keeps_caller_ids(client: ErrorClient) -> None:
    items = [pb.ClassifyItem(id=f"msg-{i}", code=131047) for i in range(5)]
    assert [r.id for r in client.classify_stream(items)] == [f"msg-{i}" for i in range(5)]


def test_classify_stream_reads_input_lazily_and_stops_when_abandoned(
    client: ErrorClient,
) -> None:
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield GRAPH_ERROR

    results = client.classify_stream(endless(), batch_size=50, window=2)
    first = [next(results) for _ in range(120)]
    assert [r.id for r in first] == [str(i) for i in range(120)]
    assert pulled <= 50 * (2 + 1) + 120, pulled  # the window, a partial batch, what was read
    at_close = pulled
    results.close()  # cancels the stream
    time.sleep(0.3)  # a batch being read when close() ran may still complete
    settled = pulled
    assert settled <= at_close + 50, (at_close, settled)
    time.sleep(0.3)
    assert pulled == settled  # and then nothing more is read


def test_classify_stream_reraises_the_inputs_own_error(client: ErrorClient) -> None:
    def broken() -> Iterator[bytes]:
        yield GRAPH_ERROR
        yield GRAPH_ERROR
        raise OSError("disk went away")

    seen = []
    with pytest.raises(OSError, match="disk went away"):
        for result in client.classify_stream(broken(), batch_size=1):
            seen.append(result.id)
    assert seen == ["0", "1"]  # what was sent before the failure was still answered


def test_summarize_counts_every_item(client: ErrorClient) -> None:
    inputs: list[Any] = [GRAPH_ERROR, b"{bad", STATUS_WEBHOOK] * 700
    summary = client.summarize(inputs)
    assert summary.total_items == 2100
    assert summary.invalid_items == 700
    assert summary.total_errors == 700 + 1400
    by_category = {c.key: c.count for c in summary.by_category}
    assert by_category["CATEGORY_TEMPLATE"] == 700


# ---- helpers ------------------------------------------------------------------------


def test_should_retry_and_retry_after_read_the_servers_decision(client: ErrorClient) -> None:
    window_closed, rate_limit = client.classify(STATUS_WEBHOOK).classifications
    assert should_retry(rate_limit) and retry_after(rate_limit) == timedelta(seconds=60)
    assert not should_retry(window_closed) and retry_after(window_closed) is None
    timeout = client.classify(CURL_TIMEOUT).classifications[0]
    assert retry_after(timeout) == timedelta(seconds=5)
    assert retry_after(timeout, attempt=3) == timedelta(seconds=40)
    assert retry_after(timeout, attempt=30) == timedelta(hours=1)
    whole = client.classify(STATUS_WEBHOOK)
    assert not should_retry(whole)  # one of its errors needs a template, not a retry
    failed = pb.ClassifyResult(id="x")
    failed.status.code = 3
    assert not should_retry(failed)
    assert should_retry(client.get_error(130429))


# ---- configuration ------------------------------------------------------------------


@pytest.fixture(scope="module")
def stalled_server() -> Iterator[ServerThread]:
    thread = ServerThread(ServerConfig(interceptors=[NeverAnswers()])).start()
    yield thread
    thread.stop(grace=0.1)


def test_default_deadline_applies_to_every_call(stalled_server: ServerThread) -> None:
    started = time.monotonic()
    with ErrorClient(stalled_server.target, timeout=0.3) as hasty:
        with pytest.raises(grpc.RpcError) as caught:
            hasty.get_error(131047)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert hasty.categories().categories  # a fast call under the same deadline is served
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1:1", "127.0.0.1:1"),
        ("dns:///errors.internal:50051", "dns:///errors.internal:50051"),
        ("127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        (["127.0.0.1:1", "localhost:2"], "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("[::1]:1,[::1]:2", "ipv6:[::1]:1,[::1]:2"),
    ],
)
def test_target_forms(target: Any, expected: str) -> None:
    assert grpc_target(target) == expected


@pytest.mark.parametrize("target", ["", "nohost", "host:port", "127.0.0.1:1,[::1]:2"])
def test_bad_targets_are_config_errors(target: str) -> None:
    with pytest.raises(ConfigError):
        grpc_target(target)


def test_dns_target_reaches_the_server(server: ServerThread) -> None:
    with ErrorClient(f"dns:///127.0.0.1:{server.port}") as errors:
        assert errors.get_error(131047).error.code == 131047


# ---- replicas and failures ----------------------------------------------------------


def test_round_robin_spreads_calls_and_survives_two_stopped_replicas() -> None:
    servers = counted_servers(3)
    stopped = []
    try:
        with ErrorClient([s.target for s, _ in servers]) as errors:
            all_connected(lambda: errors.get_error(131047), [c for _, c in servers])
            for _ in range(30):
                errors.get_error(131047)
            counts = [counter.calls.count("GetError") for _, counter in servers]
            assert sum(counts) == 30
            assert all(count >= 5 for count in counts), counts  # no replica left idle
            for thread, _ in servers[:2]:
                thread.stop(grace=0.5)
                stopped.append(thread)
            for _ in range(10):  # UNAVAILABLE on a dead replica is retried on the live one
                assert errors.get_error(131047).error.code == 131047
            assert servers[2][1].calls.count("GetError") >= counts[2] + 10
    finally:
        for thread, _ in servers:
            if thread not in stopped:
                thread.stop(grace=0.5)


def test_stream_moves_to_another_replica_when_its_server_stops() -> None:
    servers = counted_servers(2)
    total = 20_000
    try:
        with ErrorClient([s.target for s, _ in servers]) as errors:
            errors.wait_ready()
            ids = []
            victim = None
            for result in errors.classify_stream(stream_inputs(total), batch_size=100):
                ids.append(int(result.id))
                assert result.classifications[0].error_info.code == 132001
                if len(ids) == 1000:
                    victim = next(s for s, c in servers if "ClassifyStream" in c.calls)
                    victim.stop(grace=0.0)
            assert ids == list(range(total))  # nothing lost, nothing twice, same order
            assert all("ClassifyStream" in c.calls for _, c in servers)
    finally:
        for thread, _ in servers:
            if thread is not victim:
                thread.stop(grace=0.5)


def test_stream_on_a_stopped_server_fails_with_a_clear_error_not_a_hang() -> None:
    ((thread, _),) = counted_servers(1)
    started = time.monotonic()
    with ErrorClient(thread.target) as errors, pytest.raises(StreamError) as caught:
        for count, _result in enumerate(errors.classify_stream(stream_inputs(10**7)), 1):
            if count == 1000:
                thread.stop(grace=0.0)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert isinstance(caught.value, grpc.RpcError)
    assert str(caught.value).startswith("ClassifyStream failed after")
    assert caught.value.answered >= 1000
    assert time.monotonic() - started < 15


def test_stalled_stream_times_out_per_batch(stalled_server: ServerThread) -> None:
    started = time.monotonic()
    errors = ErrorClient(stalled_server.target, timeout=0.5)
    with errors, pytest.raises(StreamError) as caught:
        list(errors.classify_stream(stream_inputs(10)))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no answer for a batch within 0.5s" in str(caught.value)
    assert time.monotonic() - started < 5


# ---- TLS and token --------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority.create()


@pytest.fixture(scope="module")
def mtls_server(ca: Authority) -> Iterator[ServerThread]:
    """Mutual TLS and a bearer token: the strictest server the client must reach."""
    pair = ca.issue("localhost", server=True)
    tls = TlsFiles(pair.cert, pair.key, client_ca=ca.pair.cert)
    thread = ServerThread(ServerConfig(tls=tls, token=TOKEN)).start()
    yield thread
    thread.stop(grace=0.5)


def test_mutual_tls_with_token(mtls_server: ServerThread, ca: Authority, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.pair.cert)
    cert, key = ca.issue("waerr-client", server=False).write(tmp_path, "client")
    config = ClientConfig(
        mtls_server.target,
        tls_ca=ca_file,
        tls_cert=cert,
        tls_key=key,
        tls_server_name="localhost",
        token=TOKEN,
    )
    with ErrorClient(config) as errors:
        assert errors.get_error(131047).error.code == 131047
        assert len(list(errors.classify_stream([GRAPH_ERROR] * 3))) == 3
    without_token = ClientConfig(**{**config.__dict__, "token": None})
    with ErrorClient(without_token) as errors, pytest.raises(grpc.RpcError) as caught:
        errors.get_error(131047)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_token_on_plaintext_travels_as_metadata() -> None:
    thread = ServerThread(ServerConfig(token=TOKEN)).start()
    try:
        with ErrorClient(thread.target, token=TOKEN) as errors:
            assert errors.get_error(131047).error.code == 131047
            assert errors.summarize([GRAPH_ERROR]).total_items == 1
        with ErrorClient(thread.target) as errors, pytest.raises(grpc.RpcError) as caught:
            errors.get_error(131047)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        thread.stop(grace=0.5)


def test_unreadable_tls_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read TLS CA file"):
        ErrorClient("127.0.0.1:1", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="go together"):
        ErrorClient("127.0.0.1:1", tls_cert=tmp_path / "c.pem")


def test_pairs_unknown_codes_transport_and_items(client: ErrorClient) -> None:
    """GetError with a subcode, ListUnknownCodes, a transport, and a ClassifyItem as input."""
    pair = client.get_error(190, subcode=458).error
    assert (pair.subcode, pair.actor) == (458, pb.ACTOR_BUSINESS)
    client.classify(pb.StructuredError(code=987_002, title="Brand new"))
    assert 987_002 in [c.code for c in client.list_unknown_codes(1000).codes]
    transport = pb.Transport(http_status=429, headers={"Retry-After": "90"})
    [found] = client.classify(130429, transport=transport).classifications
    assert found.context.http_status == 429 and found.retry_after.seconds == 90
    [plain] = client.classify(130429).classifications  # the cached bare-code answer is apart
    assert plain.context.http_status == 0 and not plain.HasField("retry_after")
    item = pb.ClassifyItem(id="x", text="(#131047) Re-engagement message")
    [from_item] = client.classify(item).classifications
    assert from_item.error_info.code == 131047
