"""The soak's hostile load: the reliability review's attacks, each checked (bench/probes/soak.py).

Every defect class of ../shared/docs/reliability_review.md (D1-D14) has an
attack here that the soak replays throughout its run, and each attack
checks the server's answer is exactly the one it promises: the answer, or
the status naming the budget or limit. A wrong one is an error of the soak.
Requests are serialised once, up front, so the soak client's CPU goes to
sending them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import orjson
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2

from bench.names import CLASSIFY, CLASSIFY_STREAM, method_path
from whatsapp_errors.v1 import error_catalog_pb2 as pb

if TYPE_CHECKING:
    from bench.probes.soak import Tally

CLOCK = time.perf_counter
HOSTILE_PAUSE_S = 0.2
"""Between two hostile requests of the one hostile worker: hostile, not a flood."""
IDLE_TIMEOUT_S = 3.0
"""The soak's server ends streams that send nothing after this (--stream-idle-timeout)."""
SSL = "ssl " * 1024
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


class Hostile:
    """The reliability review's attacks, replayed; each must get its promised answer."""

    def __init__(self, channels: list[grpc.aio.Channel], tally: Tally, metrics_port: int) -> None:
        self.channels = channels
        self.tally = tally
        self.metrics_port = metrics_port
        self.rng = random.Random(11)
        texts = {"title": SSL, "message": SSL + "a", "error_data": SSL + "b", "code": 999_999}
        self.ssl_body = _raw(pb.ClassifyRequest(payload=orjson.dumps({"errors": [texts] * 60})))
        ten_thousand = orjson.dumps({"errors": [1] * 10_000})
        items = [pb.ClassifyItem(id=str(i), payload=ten_thousand) for i in range(60)]
        self.big_batch = _raw(pb.ClassifyStreamRequest(items=items))
        self.big_summary = _raw(pb.SummarizeErrorsRequest(items=items))
        wide = struct_pb2.Struct()
        wide.fields["statuses"].list_value.extend([struct_pb2.Struct()] * 600_000)
        self.wide_struct = _raw(pb.ClassifyRequest(json=wide))
        self.long_query = _raw(pb.ListErrorsRequest(query="e " * 3_500_000))
        self.empty_items = b"\x0a\x00" * (4 * 1024 * 1024 - 16)
        codes = struct_pb2.Struct()
        codes.update({"errors": [131047]})
        self.json_codes = _raw(pb.ClassifyRequest(json=codes))
        heavy = orjson.dumps({"errors": [{"code": 900_000 + i} for i in range(450)]})
        self.heavy_batch = _raw(
            pb.ClassifyStreamRequest(
                items=[pb.ClassifyItem(id=str(i), payload=heavy) for i in range(40)]
            )
        )
        self.attacks: list[Callable[[], Awaitable[None]]] = [
            self.ssl_texts,
            self.budget_batch,
            self.budget_summary,
            self.struct_bomb,
            self.query_bomb,
            self.item_bomb,
            self.half_closed_unary,
            self.health_list,
            self.json_bare_codes,
            self.cancelled_heavy_batch,
            self.rapid_cancels,
            self.idle_metrics_connections,
        ]

    def _channel(self) -> grpc.aio.Channel:
        return self.rng.choice(self.channels)

    async def worker(self, stop: asyncio.Event) -> None:
        """One attack after another, each checked."""
        while not stop.is_set():
            attack = self.rng.choice(self.attacks)
            began = CLOCK()
            try:
                await attack()
                self.tally.hostile[attack.__name__] += 1
                self.tally.timed("hostile", began)
            except Exception as exc:  # a wrong answer or an unexpected status
                self.tally.error(f"hostile {attack.__name__}: {type(exc).__name__}: {exc}")
            await asyncio.sleep(HOSTILE_PAUSE_S)

    async def idle_streams(self, stop: asyncio.Event) -> None:
        """D5: a stream that sends nothing is ended UNAVAILABLE after the idle timeout."""
        while not stop.is_set():
            call = self._channel().stream_stream(CLASSIFY_STREAM)(timeout=IDLE_TIMEOUT_S + 30)
            began = CLOCK()
            try:
                await call.read()
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or "idle" not in (exc.details() or ""):
                    self.tally.error(f"idle stream: {exc.code().name}: {exc.details()}")
                elif CLOCK() - began < IDLE_TIMEOUT_S * 0.9:
                    self.tally.error(f"idle stream ended after {CLOCK() - began:.1f}s")
                else:
                    self.tally.hostile["idle_stream"] += 1
            else:
                self.tally.error("idle stream: answered without a request")

    async def _refused(self, method: str, request: bytes, code: grpc.StatusCode, says: str) -> None:
        try:
            await self._channel().unary_unary(method_path(method))(request, timeout=60)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != code or says not in (exc.details() or ""):
                raise ValueError(f"{method}: {exc.code().name}: {exc.details()}") from None
            self.tally.expected_refusals += 1
            return
        raise ValueError(f"{method}: answered; expected {code.name}")

    async def ssl_texts(self) -> None:  # D1
        answer = await self._channel().unary_unary(CLASSIFY)(self.ssl_body, timeout=60)
        if len(pb.ClassifyResponse.FromString(answer).classifications) != 60:
            raise ValueError("ssl texts: not 60 classifications")

    async def budget_batch(self) -> None:  # D2
        call = self._channel().stream_stream(CLASSIFY_STREAM)
        answers = [a async for a in call(iter([self.big_batch]), timeout=60)]
        results = pb.ClassifyStreamResponse.FromString(answers[0]).results
        codes = {r.status.code for r in results}
        if len(answers) != 1 or len(results) != 60 or not codes <= {0, 8} or 0 not in codes:
            raise ValueError(f"budget batch: {len(answers)} answers, statuses {codes}")
        self.tally.expected_refusals += sum(r.status.code == 8 for r in results)

    async def budget_summary(self) -> None:  # D4
        call = self._channel().stream_unary(method_path("SummarizeErrors"))
        try:
            await call(iter([self.big_summary]), timeout=60)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != RESOURCE_EXHAUSTED:
                raise
            self.tally.expected_refusals += 1
            return
        raise ValueError("an over-budget SummarizeErrors was answered")

    async def struct_bomb(self) -> None:  # D3
        await self._refused("Classify", self.wide_struct, RESOURCE_EXHAUSTED, "nested_bytes")

    async def query_bomb(self) -> None:  # D4
        await self._refused("ListErrors", self.long_query, INVALID_ARGUMENT, "query: at most")

    async def item_bomb(self) -> None:  # 8 MiB of empty items: 288 MiB once parsed
        call = self._channel().stream_stream(CLASSIFY_STREAM)
        try:
            _ = [a async for a in call(iter([self.empty_items]), timeout=60)]
        except grpc.aio.AioRpcError as exc:
            if exc.code() != INVALID_ARGUMENT:
                raise
            self.tally.expected_refusals += 1
            return
        raise ValueError("8 MiB of empty items were answered")

    async def half_closed_unary(self) -> None:  # D6
        call = self._channel().stream_unary(CLASSIFY)
        try:
            await call(iter([]), timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != INVALID_ARGUMENT:
                raise
            self.tally.expected_refusals += 1
            return
        raise ValueError("a unary call without a message was answered")

    async def health_list(self) -> None:  # D8
        listing = self._channel().unary_unary(
            "/grpc.health.v1.Health/List",
            request_serializer=health_pb2.HealthListRequest.SerializeToString,
            response_deserializer=health_pb2.HealthListResponse.FromString,
        )
        reply = await listing(health_pb2.HealthListRequest(), timeout=10)
        if reply.statuses[""].status != health_pb2.HealthCheckResponse.SERVING:
            raise ValueError("Health/List: not SERVING")

    async def json_bare_codes(self) -> None:  # D14
        answer = await self._channel().unary_unary(CLASSIFY)(self.json_codes, timeout=10)
        found = [c.error_info.code for c in pb.ClassifyResponse.FromString(answer).classifications]
        if found != [131047]:
            raise ValueError(f"json bare codes: {found}")

    async def cancelled_heavy_batch(self) -> None:  # D4: a cancel stops the batch
        call = self._channel().stream_stream(CLASSIFY_STREAM)(timeout=30)
        await call.write(self.heavy_batch)
        await asyncio.sleep(0.03)
        call.cancel()
        self.tally.cancelled_streams += 1

    async def rapid_cancels(self) -> None:  # D13, gently: calls cancelled as they leave
        method = self._channel().unary_unary(CLASSIFY)
        calls = [method(self.ssl_body, timeout=10) for _ in range(100)]
        for call in calls:
            call.cancel()
        await asyncio.sleep(0)

    async def idle_metrics_connections(self) -> None:  # D7
        writers = []
        for _ in range(30):
            _reader, writer = await asyncio.open_connection("127.0.0.1", self.metrics_port)
            writers.append(writer)
        await asyncio.sleep(1.0)
        for writer in writers:
            writer.close()


def _raw(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data
