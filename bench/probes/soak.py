"""`make soak` / `python -m bench.probes.soak --seconds N`: mixed good and hostile load.

Starts a real `python -m whatsapp_errors.server` subprocess (bench/procs.py) and drives it
from this process with grpc.aio. The good load: unary Classify (bare codes,
webhooks, texts), catalog lookups, ClassifyStream batches on streams that
are opened, used and closed over and over (some cancelled mid-stream on
purpose), invalid requests that must come back INVALID_ARGUMENT, and a
health probe every 100 ms from this process and another from a process of
its own (bench/probes/health_prober.py: the server's latency, not this busy
loop's). The hostile load replays every defect class of
the reliability review (../shared/docs/reliability_review.md, D1-D14): a
body of "ssl ssl ..." texts, a batch of 60 x 10,000 codes, a Struct of
600,000 empty objects, an over-budget SummarizeErrors, a 7 MB ListErrors
query, 8 MiB of empty stream items, streams that send nothing, unary calls
half-closed without a message, Health/List, cancelled heavy batches, calls
cancelled as soon as sent, idle connections to /metrics, `json` bare codes;
each must get exactly the answer or status the server promises for it.

Every answer is checked. The report: unexpected outcomes (must be 0), stream
items lost (sent and never answered, must be 0), latency percentiles per
kind (health's slowest answer included), and the server's RSS at the start
and the end of the measured window (growth must stay under
--max-rss-growth-mib); the exit status is non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import procs, workload
from bench.loadgen import CHANNEL_OPTIONS
from bench.names import CLASSIFY_STREAM, method_path
from bench.probes.hostile import IDLE_TIMEOUT_S, Hostile
from bench.stats import percentile
from whatsapp_errors.v1 import error_catalog_pb2 as pb

CLOCK = time.perf_counter
DEFAULT_SECONDS = 120.0
WARMUP_FRACTION = 0.1
"""RSS is compared after this share of the run (caches warm): the first quarter of the
rest against the last quarter."""
DEFAULT_MAX_RSS_GROWTH_MIB = 16.0
STREAM_BATCH = 100
BATCHES_PER_STREAM = 20
MAX_ERROR_SAMPLES = 10
TEXT = "cURL error 28: Operation timed out"
HOSTILE_PAUSE_S = 0.2
"""Between two hostile requests of the one hostile worker: hostile, not a flood."""
SSL = "ssl " * 1024
RESOURCE_EXHAUSTED, INVALID_ARGUMENT = (
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INVALID_ARGUMENT,
)


@dataclass
class Tally:
    """What the soak saw: calls, latencies, expected refusals and unexpected errors."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    items: int = 0
    sent_items: int = 0
    hostile: collections.Counter[str] = field(default_factory=collections.Counter)
    expected_refusals: int = 0
    cancelled_streams: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        """An unexpected outcome: counted, and the first few kept for the report."""
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(what)

    def timed(self, kind: str, began: float) -> None:
        self.calls[kind] += 1
        self.latencies[kind].append(CLOCK() - began)


class Soak:
    """The load: unary and stream workers plus a prober, until `stop` is set."""

    def __init__(self, channels: list[grpc.aio.Channel], tally: Tally, seed: int = 7) -> None:
        self.channels = channels
        self.tally = tally
        self.stop = asyncio.Event()
        self.payloads = workload.mixed_payloads(2000)
        self.stream_requests = [
            pb.ClassifyStreamRequest.FromString(raw)
            for raw in workload.stream_requests(self.payloads, STREAM_BATCH, count=20)
        ]
        self.rng = random.Random(seed)
        self.codes = workload.catalog_codes()

    def _channel(self) -> grpc.aio.Channel:
        return self.rng.choice(self.channels)

    def _unary(self, method: str, request: Any, response: Any) -> Any:
        """A unary multicallable on a random channel (messages in and out)."""
        return self._channel().unary_unary(
            method_path(method),
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )

    async def _guard(self, kind: str, call: Callable[[], Awaitable[None]]) -> None:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            self.tally.error(f"{kind}: {exc.code().name}: {exc.details()}")
        except Exception as exc:  # a wrong answer: the check raised
            self.tally.error(f"{kind}: {type(exc).__name__}: {exc}")

    async def unary_worker(self) -> None:
        """Back-to-back unary calls in a fixed mix."""
        while not self.stop.is_set():
            roll = self.rng.random()
            if roll < 0.35:
                await self._guard("classify/code", self._classify_code)
            elif roll < 0.75:
                await self._guard("classify/webhook", self._classify_webhook)
            elif roll < 0.85:
                await self._guard("classify/text", self._classify_text)
            elif roll < 0.95:
                await self._guard("get_error", self._get_error)
            else:
                await self._guard("invalid", self._invalid)

    async def _classify_code(self) -> None:
        code = self.rng.choice(self.codes)
        began = CLOCK()
        stub = self._unary("Classify", pb.ClassifyRequest, pb.ClassifyResponse)
        reply = await stub(pb.ClassifyRequest(code=code), timeout=10)
        self.tally.timed("unary", began)
        if [c.error_info.code for c in reply.classifications] != [code]:
            raise ValueError(f"code {code} classified as {reply.classifications}")

    async def _classify_webhook(self) -> None:
        payload = self.rng.choice(self.payloads)
        began = CLOCK()
        stub = self._unary("Classify", pb.ClassifyRequest, pb.ClassifyResponse)
        reply = await stub(pb.ClassifyRequest(payload=payload), timeout=10)
        self.tally.timed("unary", began)
        if not reply.catalog_version:
            raise ValueError("a ClassifyResponse without catalog_version")

    async def _classify_text(self) -> None:
        began = CLOCK()
        stub = self._unary("Classify", pb.ClassifyRequest, pb.ClassifyResponse)
        reply = await stub(
            pb.ClassifyRequest(text="cURL error 28: Operation timed out"), timeout=10
        )
        self.tally.timed("unary", began)
        if len(reply.classifications) != 1:
            raise ValueError(f"a text gave {len(reply.classifications)} classifications")

    async def _get_error(self) -> None:
        code = self.rng.choice(self.codes)
        began = CLOCK()
        stub = self._unary("GetError", pb.GetErrorRequest, pb.GetErrorResponse)
        reply = await stub(pb.GetErrorRequest(code=code), timeout=10)
        self.tally.timed("unary", began)
        if reply.error.code != code:
            raise ValueError(f"GetError({code}) answered {reply.error.code}")

    async def _invalid(self) -> None:
        """Bad input must be refused with INVALID_ARGUMENT, and nothing else."""
        payload = self.rng.choice([b"[1]", b'{"code": 1.5}', b'{"errors": [', b"\xff"])
        stub = self._unary("Classify", pb.ClassifyRequest, pb.ClassifyResponse)
        try:
            await stub(pb.ClassifyRequest(payload=payload), timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            self.tally.expected_refusals += 1
            return
        raise ValueError(f"invalid payload {payload!r} was accepted")

    async def stream_worker(self) -> None:
        """Streams of BATCHES_PER_STREAM batches; one in ten is cancelled half way."""
        while not self.stop.is_set():
            await self._guard("stream", self._one_stream)

    async def _one_stream(self) -> None:
        call = self._channel().stream_stream(
            CLASSIFY_STREAM,
            request_serializer=pb.ClassifyStreamRequest.SerializeToString,
            response_deserializer=pb.ClassifyStreamResponse.FromString,
        )(timeout=60)
        cancel_after = BATCHES_PER_STREAM // 2 if self.rng.random() < 0.1 else None
        for index in range(BATCHES_PER_STREAM):
            if self.stop.is_set():
                break
            if index == cancel_after:
                call.cancel()
                self.tally.cancelled_streams += 1
                return
            request = self.rng.choice(self.stream_requests)
            began = CLOCK()
            await call.write(request)
            self.tally.sent_items += len(request.items)
            reply = await call.read()
            self.tally.timed("stream batch", began)
            if reply is grpc.aio.EOF:
                raise ValueError("the stream ended before its answer")
            ids = [r.id for r in reply.results]
            if ids != [item.id for item in request.items]:
                raise ValueError(f"asked {len(request.items)} items, got {len(ids)} results")
            self.tally.items += len(ids)
        await call.done_writing()
        if await call.read() is not grpc.aio.EOF:
            raise ValueError("an answer after the last batch")
        if await call.code() != grpc.StatusCode.OK:
            raise ValueError(f"stream ended with {await call.code()}")

    async def prober(self) -> None:
        """A health check every 100 ms on the load's own loop (its delays included)."""
        stub = health_pb2_grpc.HealthStub(self.channels[0])
        while not self.stop.is_set():
            began = CLOCK()
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                self.tally.timed("health, from the load", began)
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    self.tally.error(f"health: {reply.status}")
            except grpc.aio.AioRpcError as exc:
                self.tally.error(f"health: {exc.code().name}: {exc.details()}")
            await asyncio.sleep(0.1)


async def drive(
    target: str,
    pids: list[int],
    seconds: float,
    unary: int,
    streams: int,
    metrics_port: int,
    hostile: bool = True,
) -> tuple[Tally, list[tuple[float, float]]]:
    """Runs the soak against `target`, sampling the RSS of `pids` once a second."""
    channels = [
        grpc.aio.insecure_channel(target, options=[*CHANNEL_OPTIONS, ("soak.ch", i)])
        for i in range(4)
    ]
    for channel in channels:
        await asyncio.wait_for(channel.channel_ready(), 10)
    tally = Tally()
    soak = Soak(channels, tally)
    tasks = [asyncio.create_task(soak.unary_worker()) for _ in range(unary)]
    tasks += [asyncio.create_task(soak.stream_worker()) for _ in range(streams)]
    tasks.append(asyncio.create_task(soak.prober()))
    if hostile:
        attacker = Hostile(channels, tally, metrics_port)
        tasks.append(asyncio.create_task(attacker.worker(soak.stop)))
        tasks += [asyncio.create_task(attacker.idle_streams(soak.stop)) for _ in range(2)]
    samples: list[tuple[float, float]] = []
    began = CLOCK()
    next_report = began + 30
    while (now := CLOCK()) - began < seconds:
        samples.append((now - began, sum(procs.rss_mib(pid) for pid in pids)))
        if now >= next_report:
            print(
                f"  {now - began:5.0f}s  calls {sum(tally.calls.values()):,}  "
                f"errors {tally.errors}  RSS {samples[-1][1]:.1f} MiB",
                file=sys.stderr,
            )
            next_report += 30
        await asyncio.sleep(min(1.0, max(0.0, seconds - (now - began))))
    soak.stop.set()
    await asyncio.gather(*tasks)
    samples.append((CLOCK() - began, sum(procs.rss_mib(pid) for pid in pids)))
    for channel in channels:
        await channel.close()
    return tally, samples


class HealthProber:
    """bench/probes/health_prober.py in its own process for the length of the `with` block."""

    KIND = "health, own process"

    def __init__(self, target: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bench.probes.health_prober", target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=procs.ROOT,
            text=True,
        )
        self.report: dict[str, list[Any]] = {"latencies": [], "failures": []}

    def __enter__(self) -> HealthProber:
        assert self.popen.stderr is not None
        line = self.popen.stderr.readline()  # "ready" once its first Check is answered
        if line.strip() != "ready":
            self.popen.kill()
            raise RuntimeError(f"health prober did not start: {line}{self.popen.stderr.read()}")
        return self

    def __exit__(self, *exc: object) -> None:
        out, err = self.popen.communicate(input="", timeout=30)  # stdin closed: it reports
        if self.popen.returncode != 0:
            raise RuntimeError(f"health prober exited {self.popen.returncode}: {err}")
        self.report = json.loads(out)

    def add_to(self, tally: Tally) -> None:
        """Its latencies as their own kind; its failed checks as the soak's errors."""
        tally.latencies[self.KIND].extend(self.report["latencies"])
        for failure in self.report["failures"]:
            tally.error(f"health (own process): {failure}")


def summarise(
    tally: Tally, samples: list[tuple[float, float]], seconds: float, max_growth: float
) -> dict[str, Any]:
    """The report as a dict (printed as a table, or JSON with --json)."""
    values = [mib for _, mib in samples]
    warm = [mib for t, mib in samples if t >= WARMUP_FRACTION * seconds] or values
    quarter = max(1, len(warm) // 4)  # medians of quarters: RSS breathes with the GC
    start = statistics.median(warm[:quarter])
    end = statistics.median(warm[-quarter:])
    latency = {}
    for kind, lat in sorted(tally.latencies.items()):
        lat.sort()
        latency[kind] = {
            "count": len(lat),
            "p50_ms": percentile(lat, 0.50) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3,
            "p999_ms": percentile(lat, 0.999) * 1e3,
            "max_ms": lat[-1] * 1e3,
        }
    total = sum(tally.calls.values())
    return {
        "seconds": seconds,
        "calls": total,
        "calls_per_s": total / seconds,
        "stream_items": tally.items,
        "stream_items_sent": tally.sent_items,
        "lost_items": tally.sent_items - tally.items,
        "hostile": dict(sorted(tally.hostile.items())),
        "expected_refusals": tally.expected_refusals,
        "cancelled_streams": tally.cancelled_streams,
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "rss_idle_mib": values[0],
        "rss_start_mib": start,
        "rss_end_mib": end,
        "rss_max_mib": max(values),
        "rss_growth_mib": end - start,
        "max_rss_growth_mib": max_growth,
        "latency": latency,
        "ok": tally.errors == 0 and tally.sent_items == tally.items and end - start <= max_growth,
    }


def table(report: dict[str, Any]) -> str:
    """Human-readable report."""
    lines = [
        f"soak: {report['seconds']:.0f}s, {report['calls']:,} calls "
        f"({report['calls_per_s']:,.0f}/s), {report['stream_items']:,} streamed items, "
        f"{report['cancelled_streams']} streams cancelled on purpose, "
        f"{report['expected_refusals']} invalid requests refused as expected",
        f"errors: {report['errors']}; stream items lost: {report['lost_items']} "
        f"of {report['stream_items_sent']:,} sent",
        "hostile requests answered as promised: "
        + (", ".join(f"{k} {v}" for k, v in report["hostile"].items()) or "none"),
        *(f"  {sample}" for sample in report["error_samples"]),
        f"RSS: idle {report['rss_idle_mib']:.1f} MiB, start {report['rss_start_mib']:.1f}, "
        f"end {report['rss_end_mib']:.1f}, max {report['rss_max_mib']:.1f}; growth "
        f"{report['rss_growth_mib']:+.1f} MiB (limit {report['max_rss_growth_mib']:g})",
        f"{'latency':22s} {'count':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'p99.9 ms':>9s} "
        f"{'max ms':>8s}",
    ]
    for kind, row in report["latency"].items():
        lines.append(
            f"{kind:22s} {row['count']:>9,} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['p999_ms']:9.2f} {row['max_ms']:8.2f}"
        )
    lines.append("PASS" if report["ok"] else "FAIL")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the soak; exit 0 only with no errors and no RSS growth past the limit."""
    parser = argparse.ArgumentParser(prog="python -m bench.probes.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--unary", type=int, default=8, help="concurrent unary callers")
    parser.add_argument("--streams", type=int, default=2, help="concurrent streams")
    parser.add_argument("--max-rss-growth-mib", type=float, default=DEFAULT_MAX_RSS_GROWTH_MIB)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument(
        "--no-hostile", action="store_true", help="good traffic only (the old soak)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    metrics_port = procs.free_port()
    server = procs.start_server(
        "service",
        args.workers,
        ("--stream-idle-timeout", str(IDLE_TIMEOUT_S), "--metrics-port", str(metrics_port)),
    )
    try:
        print(
            f"soak: {args.seconds:g}s against {server.target} "
            f"(pid {server.popen.pid}, {args.workers} worker(s))",
            file=sys.stderr,
        )
        with HealthProber(server.target) as prober:
            tally, samples = asyncio.run(
                drive(
                    server.target,
                    server.pids(),
                    args.seconds,
                    args.unary,
                    args.streams,
                    metrics_port,
                    not args.no_hostile,
                )
            )
        prober.add_to(tally)
    finally:
        server.stop()
    if server.popen.returncode != 0:
        tally.error(f"server exited with {server.popen.returncode} on SIGTERM")
    report = summarise(tally, samples, args.seconds, args.max_rss_growth_mib)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps({**report, "samples": samples}, indent=1) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
