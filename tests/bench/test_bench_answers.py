"""The Python load generator checks every answer: a wrong path or answer fails, never a rate.

Against real servers on free ports (the empty handler and the service): a
misspelled method is refused UNIMPLEMENTED and the scenario raises with the
path and the status; an answer of the other server (an empty handler's
constant where the service's classification was expected, or the reverse)
raises too; the right path passes. The service name is spelled once, from
the descriptor (bench/names.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from bench import answers, loadgen, procs
from bench.names import CLASSIFY, CLASSIFY_STREAM, SERVICE, method_path
from whatsapp_errors.v1 import error_catalog_pb2 as pb

BENCH = Path(__file__).resolve().parents[2] / "bench"
MISSPELLED = f"/{SERVICE}/Clasify"
MISSPELLED_STREAM = f"/{SERVICE}/ClassifyStrem"
EMPTY_UNARY = {"response": answers.EMPTY_UNARY.hex()}
EMPTY_STREAM = {"response": answers.EMPTY_STREAM.hex()}


def test_names_come_from_the_descriptor() -> None:
    descriptor = pb.DESCRIPTOR.services_by_name["ErrorCatalogService"]
    assert SERVICE == descriptor.full_name == "whatsapp.errors.v1.ErrorCatalogService"
    assert CLASSIFY == "/whatsapp.errors.v1.ErrorCatalogService/Classify"
    assert CLASSIFY_STREAM == "/whatsapp.errors.v1.ErrorCatalogService/ClassifyStream"
    assert method_path("GetError") == "/whatsapp.errors.v1.ErrorCatalogService/GetError"
    with pytest.raises(KeyError):
        method_path("Clasify")


def test_no_other_bench_module_spells_the_service_name() -> None:
    spelled = [
        path.relative_to(BENCH).as_posix()
        for path in BENCH.rglob("*.py")
        if "ErrorCatalogService" in path.read_text() and path.name != "names.py"
    ]
    assert spelled == []


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, procs.ServerProcess]]:
    started: dict[str, procs.ServerProcess] = {}
    try:  # a server that fails to start must not leave the other running
        for kind in ("reference", "service"):
            started[kind] = procs.start_server(kind)
        yield started
    finally:
        for server in started.values():
            server.stop()


def _with_channels(target: str, run: Callable[[list[grpc.aio.Channel]], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        channels = [grpc.aio.insecure_channel(target) for _ in range(2)]
        try:
            return await run(channels)
        finally:
            for channel in channels:
                await channel.close()

    return asyncio.run(main())


def _unary(target: str, spec: dict[str, Any], path: str = CLASSIFY) -> loadgen.Window:
    full = {"request": "bare", "concurrency": 4, "seconds": 0.1, "warmup": 0.05, **spec}
    window: loadgen.Window = _with_channels(
        target, lambda channels: loadgen.unary_closed(channels, full, loadgen.Recorder([]), path)
    )
    return window


def _stream(target: str, spec: dict[str, Any], path: str = CLASSIFY_STREAM) -> loadgen.Window:
    full = {"name": "t", "batch": 10, "streams": 2, "window": 2, "distinct": 50, **spec}
    full |= {"seconds": 0.1, "warmup": 0.05}
    window: loadgen.Window = _with_channels(
        target, lambda channels: loadgen.stream(channels, full, loadgen.Recorder([]), path)
    )
    return window


def test_unary_on_the_right_path_counts_checked_calls(
    servers: dict[str, procs.ServerProcess],
) -> None:
    assert _unary(servers["reference"].target, EMPTY_UNARY).calls > 0
    assert _unary(servers["service"].target, {}).calls > 0
    assert _unary(servers["service"].target, {"request": "webhook"}).calls > 0


@pytest.mark.parametrize("kind", ["reference", "service"])
def test_unary_on_a_misspelled_method_fails_naming_path_and_status(
    servers: dict[str, procs.ServerProcess], kind: str
) -> None:
    spec = EMPTY_UNARY if kind == "reference" else {}
    with pytest.raises(answers.WrongAnswerError, match="UNIMPLEMENTED") as raised:
        _unary(servers[kind].target, spec, MISSPELLED)
    assert MISSPELLED in str(raised.value) and "after 0 good answers" in str(raised.value)


def test_unary_with_the_other_servers_answer_fails(
    servers: dict[str, procs.ServerProcess],
) -> None:
    with pytest.raises(answers.WrongAnswerError, match="catalog version ''"):
        _unary(servers["reference"].target, {})  # the service's answer expected
    with pytest.raises(answers.WrongAnswerError, match="expected"):
        _unary(servers["service"].target, EMPTY_UNARY)


def _open(server: procs.ServerProcess, spec: dict[str, Any], path: str = CLASSIFY) -> int:
    full = {"request": "bare", "seconds": 0.2, "warmup": 0.05, **spec}
    window = loadgen.unary_open(server.target, 2, full, loadgen.Recorder(server.pids()), 200, path)
    return window.calls


def test_open_loop_checks_its_answers(servers: dict[str, procs.ServerProcess]) -> None:
    assert _open(servers["reference"], EMPTY_UNARY) > 10
    assert _open(servers["service"], {}) > 10
    with pytest.raises(answers.WrongAnswerError, match="UNIMPLEMENTED") as raised:
        _open(servers["service"], {}, MISSPELLED)
    assert MISSPELLED in str(raised.value)
    with pytest.raises(answers.WrongAnswerError, match="catalog version ''"):
        _open(servers["reference"], {})


def test_stream_on_the_right_path_counts_checked_batches(
    servers: dict[str, procs.ServerProcess],
) -> None:
    empty = _stream(servers["reference"].target, {"decode": False, **EMPTY_STREAM})
    assert empty.calls > 0 and empty.items == 10 * empty.calls
    assert _stream(servers["service"].target, {"decode": True}).items > 0


def test_stream_with_wrong_answers_fails(servers: dict[str, procs.ServerProcess]) -> None:
    target = servers["reference"].target
    # UNIMPLEMENTED, or INTERNAL when grpc.aio's write races the server's refusal (grpc#36066).
    with pytest.raises(answers.WrongAnswerError, match=r"UNIMPLEMENTED|INTERNAL") as raised:
        _stream(target, {"decode": False, **EMPTY_STREAM}, MISSPELLED_STREAM)
    assert MISSPELLED_STREAM in str(raised.value)
    with pytest.raises(answers.WrongAnswerError, match="asked 10 items, got 1 results"):
        _stream(target, {"decode": True})  # the empty handler answers one result per batch
    with pytest.raises(answers.WrongAnswerError, match="bytes where the checked answer had 4"):
        _stream(servers["service"].target, {"decode": False, **EMPTY_STREAM})
    with pytest.raises(ValueError, match="needs the expected response"):
        _stream(target, {"decode": False})


def test_a_plan_of_wrong_answers_fails_the_load_generator_and_prints_no_rate(
    servers: dict[str, procs.ServerProcess], capfd: pytest.CaptureFixture[str]
) -> None:
    spec = {"name": "unary", "kind": "unary", "request": "bare", "concurrency": 2}
    spec |= {"seconds": 0.1, "warmup": 0.05}
    with pytest.raises(RuntimeError, match="load generator failed"):  # expects the service
        procs.run_loadgen({"channels": 1, "scenarios": [spec]}, servers["reference"])
    assert "WrongAnswerError" in capfd.readouterr().err
    plan = {"channels": 1, "scenarios": [{**spec, **EMPTY_UNARY}]}
    rows, _ = procs.run_loadgen(plan, servers["reference"])
    assert rows[0]["calls"] > 0


@pytest.fixture()
def refusing() -> Iterator[str]:
    """A real server on a free port that answers Classify like the empty handler, but
    refuses every fourth call after the first eight UNAVAILABLE, as an overloaded server
    refuses a stream."""
    import itertools
    from concurrent import futures

    count = itertools.count(1)

    def classify(request: bytes, context: grpc.ServicerContext) -> bytes:
        n = next(count)
        if n > 8 and n % 4 == 0:
            context.abort(grpc.StatusCode.UNAVAILABLE, "refused for the test")
        return answers.EMPTY_UNARY

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(classify)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Classify": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def test_open_loop_counts_refused_calls_and_leaves_them_untimed(refusing: str) -> None:
    full = {"request": "bare", "seconds": 0.4, "warmup": 0.05, **EMPTY_UNARY}
    window = loadgen.unary_open(refusing, 2, full, loadgen.Recorder([]), 200)
    refused = window.failed["UNAVAILABLE (refused for the test)"]
    assert window.failed == {"UNAVAILABLE (refused for the test)": refused}
    answered = window.calls
    assert refused > 5 and answered > 3 * refused - 10  # one in four refused, three answered
    assert len(window.latencies) == answered  # a refused call gives no latency
    assert window.result()["failed"] == window.failed
