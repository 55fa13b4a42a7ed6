"""The load generator: one process, grpc.aio (sync grpcio for the open loop), many calls in flight.

Runs in its own process (`python -m bench.loadgen`, a JSON plan on stdin, one
JSON result per scenario on stdout) so it never shares an interpreter with
the server. The same code drives the reference server and the real one:
requests are pre-serialised bytes and unary responses stay bytes, so the
client does identical work for both and the difference is the server's.

Scenarios:
- `unary`: closed loop, `concurrency` tasks each calling back to back over
  `channels` connections; reports req/s and latency.
- `open`: open loop at a fixed rate (a fraction of an earlier scenario's
  req/s); latency counts from the *scheduled* send time, so a stalled server
  cannot hide its queueing (no coordinated omission). Sent with synchronous
  grpcio futures, whose client adds less latency than grpc.aio's.
- `stream`: `streams` bidi streams, each keeping `window` batches in flight;
  every response is decoded and its result count checked (end to end), or,
  against an empty handler (`decode` false), its size checked.
- `paired`: two legs (a closed-loop unary or stream scenario against a
  target, or an in-process baseline such as pywa) measured in alternating
  short slices, A B B A A B ...; the result is the median of the per-pair
  ratios.
- `paired_open`: two servers in open loop at the same rate (a fraction of
  an earlier pair's leg), alternating slices; each leg's p99 over its
  pooled slices, and their ratio.

Pairs because this machine's speed drifts by 30% from one minute to the next
and dips for tens of ms at a time, so a ratio of two runs taken minutes
apart says more about the host than about the code; slices a second apart
share the host's mood.

Every answer is checked (bench/answers.py): the first of a scenario against
what the server must say (the exact bytes in the spec's `response`, hex, for
an empty handler; else a real ClassifyResponse), every later one for status
OK and the same size, or, on a stream, the item count and then each item's
id, status and codes (`StreamAnswers`). A wrong answer fails the scenario
with an error naming the path and the counts, never a rate.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from bench import answers, machine_meter, spread, workload
from bench.names import CLASSIFY, CLASSIFY_STREAM
from bench.stats import percentile
from whatsapp_errors.v1 import error_catalog_pb2 as pb

CLOCK = time.perf_counter
TICKS = os.sysconf("SC_CLK_TCK")
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.use_local_subchannel_pool", 1),  # one connection per channel (spreads over workers)
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by `pids` (0 for a pid that is gone)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def machine_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs so far, from /proc/stat; (0, 0) if unreadable.

    Steal is time the hypervisor ran someone else while this VM's vCPU wanted
    to run: on a shared machine it is where unexplained tail latency goes.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(value) for value in fields[:8]]  # user .. steal; guest time is inside user
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


async def aio_channels(
    target: str, count: int, pids: Sequence[int], tag: str
) -> list[grpc.aio.Channel]:
    """`count` connected grpc.aio channels, spread evenly over the server's workers."""

    async def open_one(index: int) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(target, options=[*CHANNEL_OPTIONS, (tag, index)])
        await asyncio.wait_for(channel.channel_ready(), 10)
        return channel

    async def close_one(channel: grpc.aio.Channel) -> None:
        await channel.close()

    return await spread.open_spread(count, pids, spread.port_of(target), open_one, close_one)


def sync_channels(target: str, count: int, pids: Sequence[int], tag: str) -> list[grpc.Channel]:
    """`count` connected synchronous channels, spread evenly over the server's workers."""

    async def open_one(index: int) -> grpc.Channel:
        channel = grpc.insecure_channel(target, options=[*CHANNEL_OPTIONS, (tag, index)])
        grpc.channel_ready_future(channel).result(timeout=10)
        return channel

    async def close_one(channel: grpc.Channel) -> None:
        channel.close()

    return asyncio.run(spread.open_spread(count, pids, spread.port_of(target), open_one, close_one))


def own_cpu_seconds() -> float:
    """This process's user + system CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Window:
    """What one scenario measured between warm-up and stop."""

    latencies: list[float] = field(default_factory=list)
    items: int = 0
    calls: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    service_p99: float = 0.0
    """Open loop only: p99 from the actual send, not the scheduled one."""
    service_latencies: list[float] = field(default_factory=list)
    """Open loop only: each call's latency from its actual send."""
    steal_pct: float = 0.0
    """Share of the machine's CPU time stolen by the hypervisor during the window."""
    hiccups: dict[str, Any] = field(default_factory=dict)
    """Open loop only: the machine meter's wake-ups and CPU speed meanwhile (machine_meter)."""
    clean_latencies: list[float] = field(default_factory=list)
    """Open loop only: latencies of the calls that overlapped no slow-CPU span."""
    failed: dict[str, int] = field(default_factory=dict)
    """Open loop only: measured calls that ended without an answer, by status (and details).

    An overloaded server may refuse a call (UNAVAILABLE, a refused stream);
    such a call is counted here, not timed, and the report says so beside the
    p99 (a failed call has no latency to give).
    """

    def result(self, **extra: Any) -> dict[str, Any]:
        """The scenario's JSON result."""
        lat = sorted(self.latencies)
        seconds = self.seconds or 1e-9
        return {
            "calls": self.calls,
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "calls_per_s": self.calls / seconds,
            "items_per_s": self.items / seconds,
            "p50_ms": percentile(lat, 0.50) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3,
            "server_cpu_pct": 100 * self.server_cpu / seconds,
            "client_cpu_pct": 100 * self.client_cpu / seconds,
            "server_us_per_item": 1e6 * self.server_cpu / self.items if self.items else 0.0,
            "steal_pct": self.steal_pct,
            **(self._machine() if self.hiccups else {}),
            **({"failed": self.failed} if self.failed else {}),
            **extra,
        }

    def _machine(self) -> dict[str, Any]:
        clean = sorted(self.clean_latencies)
        return {
            "hiccup_p99_ms": self.hiccups["p99_ms"],
            "hiccup_max_ms": self.hiccups["max_ms"],
            "slow_cpu_pct": self.hiccups["slow_pct"],
            "slow_cpu_longest_ms": self.hiccups["slow_longest_ms"],
            "slowdown_max": self.hiccups["slowdown_max"],
            "clean_calls_pct": 100 * len(clean) / self.calls if self.calls else 0.0,
            "clean_p99_ms": percentile(clean, 0.99) * 1e3,
        }


class Recorder:
    """Opens and closes the measurement window around a running load."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = pids
        self.on = False
        self.window = Window()
        self._t0 = self._s0 = self._c0 = 0.0
        self._ticks = (0, 0)

    def start(self) -> None:
        self.on = True
        self._t0, self._s0, self._c0 = CLOCK(), cpu_seconds(self.pids), own_cpu_seconds()
        self._ticks = machine_ticks()

    def stop(self) -> Window:
        self.on = False
        self.window.seconds = CLOCK() - self._t0
        self.window.server_cpu = cpu_seconds(self.pids) - self._s0
        self.window.client_cpu = own_cpu_seconds() - self._c0
        steal, total = machine_ticks()
        spent = total - self._ticks[1]
        self.window.steal_pct = 100 * (steal - self._ticks[0]) / spent if spent > 0 else 0.0
        return self.window


def _raise_first(results: Sequence[object]) -> None:
    """Raises the first exception among the gathered `results` (every task was awaited)."""
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _expected(spec: dict[str, Any]) -> bytes | None:
    """The exact answer the spec expects (an empty handler's), or None for the service's."""
    return bytes.fromhex(spec["response"]) if "response" in spec else None


async def unary_closed(
    channels: Sequence[grpc.aio.Channel],
    spec: dict[str, Any],
    rec: Recorder,
    path: str = CLASSIFY,
) -> Window:
    """`concurrency` tasks calling `path` back to back, every answer checked."""
    request = _unary_request(spec["request"])
    methods = [ch.unary_unary(path) for ch in channels]
    try:
        size = answers.first_unary(path, await methods[0](request, timeout=10), _expected(spec))
    except grpc.RpcError as exc:
        raise answers.refused(path, exc, 0) from exc
    stop = False
    good = 0
    window = rec.window

    async def worker(index: int) -> None:
        nonlocal good
        method = methods[index % len(methods)]
        while not stop:
            t0 = CLOCK()
            try:
                answer = await method(request, timeout=10)
            except grpc.RpcError as exc:
                raise answers.refused(path, exc, good) from exc
            took = CLOCK() - t0
            if len(answer) != size:
                raise answers.wrong_size(path, len(answer), size, good)
            good += 1
            if rec.on:
                window.latencies.append(took)
                window.calls += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(spec["concurrency"])]
    await asyncio.sleep(spec["warmup"])
    rec.start()
    await asyncio.sleep(spec["seconds"])
    rec.stop()
    stop = True
    _raise_first(await asyncio.gather(*tasks, return_exceptions=True))
    window.items = window.calls
    return window


def _first_answers(
    path: str, methods: Sequence[grpc.UnaryUnaryMultiCallable], request: bytes, expect: bytes | None
) -> int:
    """One checked call per channel (each connected on the way); the size they all answered."""
    sizes = set()
    for method in methods:
        try:
            answer = method(request, timeout=10, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise answers.refused(path, exc, 0) from exc
        sizes.add(answers.first_unary(path, answer, expect))
    if len(sizes) != 1:
        raise answers.WrongAnswerError(f"{path} answered one request with sizes {sorted(sizes)}")
    return sizes.pop()


def unary_open(
    target: str,
    channel_count: int,
    spec: dict[str, Any],
    rec: Recorder,
    rate: float,
    path: str = CLASSIFY,
) -> Window:
    """Calls started on a fixed schedule at `rate` per second, whatever the answers do.

    Driven by synchronous grpcio futures, not grpc.aio: one thread sends each
    call at its due time and grpcio's own threads record the answers. Against
    the empty-handler server at 700 calls/s the aio driver added ~2 ms to
    every call (p50 3.0 ms against 0.9 ms, measured alternately), which would
    be charged to the server. Latency counts from the scheduled time; a late
    send is sent at once, never skipped (no coordinated omission). Every
    answer is checked once the last is in: an OK answer of another size fails
    the scenario; a measured call that failed (a server refusing what it
    cannot take) is counted in `Window.failed` by status, not timed.
    """
    request = _unary_request(spec["request"])
    channels = sync_channels(target, channel_count, rec.pids, "bench.open")
    methods = [channel.unary_unary(path) for channel in channels]
    try:
        size = _first_answers(path, methods, request, _expected(spec))
    except BaseException:
        for channel in channels:
            channel.close()
        raise
    statuses: collections.Counter[str] = collections.Counter()
    window = rec.window
    service_times: list[float] = []
    spans: list[tuple[float, float]] = []  # (scheduled, answered) per measured call
    start = CLOCK() + 0.01
    measure_from = start + spec["warmup"]
    end = measure_from + spec["seconds"]
    meter = machine_meter.Beside(spec["seconds"], spec["warmup"])

    def record(scheduled: float, sent: float) -> Any:
        def done(future: Any) -> None:
            now = CLOCK()
            if future.exception() is not None:
                return  # counted in `failed` below, by status
            if scheduled >= measure_from and rec.on:
                window.latencies.append(now - scheduled)
                service_times.append(now - sent)
                spans.append((scheduled, now))
                window.calls += 1

        return done

    calls: list[tuple[float, Any]] = []
    issued = 0
    started = False
    gc.collect()
    gc.disable()  # the client's collections are not the server's latency (see the docstring)
    try:
        while True:
            due = start + issued / rate
            if not started and due >= measure_from:
                rec.start()
                started = True
            if due >= end:
                break
            wait = due - CLOCK()
            if wait > 0:
                time.sleep(wait)
            call = methods[issued % len(methods)].future(request, timeout=10)
            call.add_done_callback(record(due, CLOCK()))
            calls.append((due, call))
            issued += 1
        failed: collections.Counter[str] = collections.Counter()
        for due, call in calls:
            try:
                got = len(call.result())
            except grpc.RpcError as exc:
                if measure_from <= due < end:
                    failed[answers.failure(exc)] += 1
                continue
            statuses["OK" if got == size else f"OK but {got} bytes"] += 1
        window.failed = dict(failed)
        rec.stop()
        window.hiccups, slow = meter.result()
    finally:
        gc.enable()
        meter.kill()
        for channel in channels:
            channel.close()
    answers.tally(path, statuses, size)  # a wrong answer fails the scenario, as elsewhere
    window.clean_latencies = [b - a for a, b in spans if not slow.overlaps(a, b)]
    window.items = window.calls
    service_times.sort()
    window.service_latencies = service_times
    window.service_p99 = percentile(service_times, 0.99)
    return window


class StreamAnswers:
    """The checks on the service's answers to one set of stream requests.

    The first answer to each request is decoded and checked item by item:
    one result per item, in order, each with its item's id, status OK and
    classifications carrying exactly the codes its body holds
    (`workload.expected_codes`, read by orjson, not by any reader under
    test), and the response names a catalog version. The service answers a
    request the same way every time (one catalog, deterministic decisions),
    so every later answer to it must be those checked bytes exactly: as
    strict as the full check, at the cost of a byte comparison, so the check
    does not load the client that shares the server's CPUs.
    """

    def __init__(
        self,
        path: str,
        batch: int,
        expected: Sequence[Sequence[workload.Codes]],
        codes: bool = True,
    ) -> None:
        self.path = path
        self.batch = batch
        self.expected = expected
        self.codes = codes
        """Check each item's codes (False: an earlier release, whose decisions differ)."""
        self.known: list[bytes | None] = [None] * len(expected)

    def check(self, index: int, response: bytes, results: int, good: int) -> None:
        """Raises unless `response` (with `results` results) is the right answer to `index`."""
        path, batch = self.path, self.batch
        if results != batch:
            raise answers.WrongAnswerError(
                f"{path}: asked {batch} items, got {results} results after {good} good answers"
            )
        known = self.known[index]
        if known is not None:
            if response != known:
                raise answers.WrongAnswerError(
                    f"{path}: request {index} answered {len(response)} bytes unlike its checked "
                    f"answer ({len(known)} bytes) after {good} good answers"
                )
            return
        reply = pb.ClassifyStreamResponse.FromString(response)
        if not reply.catalog_version:
            raise answers.WrongAnswerError(f"{path}: an answer without a catalog version")
        for i, (result, codes) in enumerate(zip(reply.results, self.expected[index], strict=True)):
            got = tuple(c.error_info.code for c in result.classifications)
            if result.id != str(i) or result.status.code != 0 or (self.codes and got != codes):
                raise answers.WrongAnswerError(
                    f"{path}: request {index} item {i} answered id {result.id!r}, status "
                    f"{result.status.code}, codes {got}; expected id '{i}', OK, codes {codes} "
                    f"(after {good} good answers)"
                )
        self.known[index] = response


_CHECKED: dict[tuple[str, str, str, int, int, bool], StreamAnswers] = {}
"""The answers checked so far, per (target, path, bodies, distinct, batch), for this process."""


async def stream(
    channels: Sequence[grpc.aio.Channel],
    spec: dict[str, Any],
    rec: Recorder,
    path: str = CLASSIFY_STREAM,
) -> Window:
    """`streams` bidi streams of `batch`-item requests, `window` batches in flight each.

    The requests send `distinct` bodies of the kind `bodies` ("mixed" or
    "failed", workload.request_set). Every answer is checked: with `decode`,
    it is decoded and its result count must be the batch's, then it is
    checked as `StreamAnswers` says; without, its size is that of the spec's
    `response` (an empty handler's). With `prime`, one stream first sends
    every request once, unmeasured, so each answer's full check is done
    before the measurement starts.
    """
    batch = spec["batch"]
    bodies, distinct = spec.get("bodies", "mixed"), spec.get("distinct", 2000)
    requests, expected_codes = workload.request_set(bodies, distinct, batch)
    decode = spec.get("decode", True)
    expect = _expected(spec)
    if not decode and expect is None:
        raise ValueError(f"{spec['name']}: a stream without decode needs the expected response")
    size = len(expect) if expect is not None else 0
    check_codes = spec.get("check_codes", True)
    key = (spec.get("target", ""), path, bodies, distinct, batch, check_codes)
    checker = _CHECKED.get(key)
    if checker is None:
        checker = _CHECKED[key] = StreamAnswers(path, batch, expected_codes, check_codes)
    if spec.get("prime") and decode:
        primer = {**spec, "prime": False, "streams": 1, "items": len(requests) * batch}
        await stream(channels, primer, Recorder([]), path)
    good = 0
    total_items = spec.get("items")  # a fixed amount (memory run) instead of a time window
    window = rec.window
    stop = False
    sent_items = 0

    async def one_stream(index: int) -> None:
        nonlocal sent_items, good
        call = channels[index % len(channels)].stream_stream(path)()
        credit = asyncio.Semaphore(spec["window"])
        sent: collections.deque[tuple[float, int]] = collections.deque()

        async def writer() -> None:
            nonlocal sent_items
            i = index
            while not stop and (total_items is None or sent_items < total_items):
                await credit.acquire()
                which = i % len(requests)
                sent.append((CLOCK(), which))
                await call.write(requests[which])
                sent_items += batch
                i += 1
            await call.done_writing()

        writing = asyncio.create_task(writer())
        try:
            while True:
                try:
                    response = await call.read()
                except grpc.RpcError as exc:
                    raise answers.refused(path, exc, good) from exc
                if response is grpc.aio.EOF:
                    break
                now = CLOCK()
                if not sent:
                    raise answers.WrongAnswerError(f"{path}: an answer nobody asked for ({good})")
                began, which = sent.popleft()
                credit.release()
                if decode:
                    results = len(pb.ClassifyStreamResponse.FromString(response).results)
                    checker.check(which, response, results, good)
                elif len(response) != size:
                    raise answers.wrong_size(path, len(response), size, good)
                good += 1
                if rec.on:
                    window.latencies.append(now - began)
                    window.calls += 1
                    window.items += batch
        except BaseException:
            writing.cancel()  # the stream failed: stop writing to it
            call.cancel()
            await asyncio.gather(writing, return_exceptions=True)
            raise
        await writing
        if sent:
            unanswered = len(sent)
            raise answers.WrongAnswerError(f"{path}: the stream ended, {unanswered} unanswered")
        code = await call.code()
        if code != grpc.StatusCode.OK:
            raise answers.WrongAnswerError(f"{path}: the stream ended {code.name} after {good}")

    tasks = [asyncio.create_task(one_stream(i)) for i in range(spec["streams"])]
    if total_items is None:
        await asyncio.sleep(spec["warmup"])
        rec.start()
        await asyncio.sleep(spec["seconds"])
        rec.stop()
        stop = True
        _raise_first(await asyncio.gather(*tasks, return_exceptions=True))
    else:
        rec.start()
        _raise_first(await asyncio.gather(*tasks, return_exceptions=True))
        rec.stop()
    return window


LegRunner = Callable[[float], Awaitable[dict[str, float]]]
"""Measures one slice of `seconds`; returns items/s (and the server's CPU µs per item)."""


async def _leg(plan: dict[str, Any], leg: dict[str, Any]) -> tuple[LegRunner, list[Any]]:
    """A runner for one leg of a paired scenario, and the channels it opened.

    An `inproc` leg runs a workload candidate ("pywa", "service classifier",
    "stdlib json + dict", ...) over the leg's bodies in this process, every
    answer checked (workload.CheckedRunner). A remote leg loads its
    `target`; with its server's `pids` it also reports the server's CPU per
    item.
    """
    if leg["kind"] == "inproc":
        name = leg.get("candidate", "stdlib json + dict")
        bodies = workload.payloads(leg.get("bodies", "mixed"), leg.get("distinct", 2000))
        runner = workload.CheckedRunner(name, workload.candidates()[name], bodies)
        runner.run(0.2)  # warm caches

        async def inproc(seconds: float) -> dict[str, float]:
            return {"items_per_s": runner.run(seconds)["items_per_s"]}

        return inproc, []
    pids = leg.get("pids", [])
    channels = await aio_channels(leg["target"], leg.get("channels", 4), pids, "bench.leg")
    if leg["kind"] == "stream" and leg.get("prime"):
        await stream(channels, {**leg, "seconds": 0.0, "warmup": 0.0, "items": 0}, Recorder([]))

    async def remote(seconds: float) -> dict[str, float]:
        spec = {**leg, "seconds": seconds, "prime": False}
        rec = Recorder(pids)
        if leg["kind"] == "unary":
            window = await unary_closed(channels, spec, rec)
        else:
            window = await stream(channels, spec, rec)
        result = {"items_per_s": window.items / (window.seconds or 1e-9)}
        if pids and window.items:
            result["server_us_per_item"] = 1e6 * window.server_cpu / window.items
        return result

    return remote, channels


async def paired(plan: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Alternating slices of two legs; the median of the per-pair items/s ratios (A / B)."""
    runners, opened = [], []
    for leg in spec["legs"]:
        runner, channels = await _leg(plan, leg)
        runners.append(runner)
        opened += channels
    slices: list[list[dict[str, float]]] = [[], []]
    try:
        for i in range(spec["pairs"]):
            for leg in (0, 1) if i % 2 == 0 else (1, 0):
                slices[leg].append(await runners[leg](spec["slice"]))
    finally:
        for channel in opened:
            await channel.close()
    rates = [[s["items_per_s"] for s in leg] for leg in slices]
    ratios = [a / b for a, b in zip(rates[0], rates[1], strict=True)]
    result: dict[str, Any] = {
        "name": spec["name"],
        "kind": "paired",
        "legs": [leg["name"] for leg in spec["legs"]],
        "pairs": spec["pairs"],
        "slice": spec["slice"],
        "a_items_per_s": statistics.median(rates[0]),
        "b_items_per_s": statistics.median(rates[1]),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratios": ratios,
    }
    for side, leg in zip("ab", slices, strict=True):
        cpu = [s["server_us_per_item"] for s in leg if "server_us_per_item" in s]
        if cpu:
            result[f"{side}_server_us_per_item"] = statistics.median(cpu)
    return result


def paired_open(spec: dict[str, Any], rate: float) -> dict[str, Any]:
    """Two servers driven in open loop at the same `rate`, in alternating slices A B B A ...

    Each slice is a `unary_open` run (its own warm-up, the machine meter
    beside it, every answer checked). The latencies of each leg's slices are
    pooled; the result is each leg's p99 (from the scheduled send, and from
    the actual send) and their ratio A / B, with the per-pair ratios.
    """
    legs = spec["legs"]
    windows: list[list[Window]] = [[], []]
    for i in range(spec["pairs"]):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            leg = legs[side]
            slice_spec = {**leg, "seconds": spec["slice"], "warmup": spec["warmup"]}
            rec = Recorder(leg.get("pids", []))
            windows[side].append(
                unary_open(leg["target"], spec.get("channels", 4), slice_spec, rec, rate)
            )
    result: dict[str, Any] = {
        "name": spec["name"],
        "kind": "paired_open",
        "legs": [leg["name"] for leg in legs],
        "pairs": spec["pairs"],
        "slice": spec["slice"],
        "target_rate": rate,
    }
    p99s: list[list[float]] = [[], []]
    for side, name in zip((0, 1), "ab", strict=True):
        pooled = sorted(t for w in windows[side] for t in w.latencies)
        sent = sorted(t for w in windows[side] for t in w.service_latencies)
        clean = sorted(t for w in windows[side] for t in w.clean_latencies)
        calls = sum(w.calls for w in windows[side])
        failed: collections.Counter[str] = collections.Counter()
        for w in windows[side]:
            failed.update(w.failed)
        seconds = sum(w.seconds for w in windows[side]) or 1e-9
        cpu = sum(w.server_cpu for w in windows[side])
        p99s[side] = [percentile(sorted(w.latencies), 0.99) for w in windows[side]]
        result |= {
            f"{name}_calls": calls,
            f"{name}_failed": sum(failed.values()),
            f"{name}_failed_by": dict(failed),
            f"{name}_calls_per_s": calls / seconds,
            f"{name}_p50_ms": percentile(pooled, 0.50) * 1e3,
            f"{name}_p99_ms": percentile(pooled, 0.99) * 1e3,
            f"{name}_p99_sent_ms": percentile(sent, 0.99) * 1e3,
            f"{name}_clean_p99_ms": percentile(clean, 0.99) * 1e3,
            f"{name}_clean_calls_pct": 100 * len(clean) / calls if calls else 0.0,
            f"{name}_server_us_per_call": 1e6 * cpu / calls if calls else 0.0,
            f"{name}_slow_cpu_pct": statistics.mean(w.hiccups["slow_pct"] for w in windows[side]),
            f"{name}_hiccup_p99_ms": max(w.hiccups["p99_ms"] for w in windows[side]),
            f"{name}_steal_pct": statistics.mean(w.steal_pct for w in windows[side]),
        }
    ratios = [a / b for a, b in zip(p99s[0], p99s[1], strict=True)]
    result |= {
        "ratio": result["a_p99_ms"] / result["b_p99_ms"],
        "ratio_sent": result["a_p99_sent_ms"] / result["b_p99_sent_ms"],
        "pair_ratios": ratios,
        "pair_ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }
    return result


def _unary_request(kind: str) -> bytes:
    if kind == "bare":
        return workload.bare_code_request()
    return workload.webhook_request(workload.mixed_payloads(200))


async def run(plan: dict[str, Any]) -> None:
    """Runs every scenario of `plan` in order, printing one JSON line each."""
    channels = await aio_channels(
        plan["target"], plan.get("channels", 4), plan.get("server_pids", []), "bench.ch"
    )
    done: dict[str, dict[str, Any]] = {}
    for spec in plan["scenarios"]:
        if spec["kind"] == "paired":
            done[spec["name"]] = measured = await paired(plan, spec)
            print(json.dumps(measured), flush=True)
            continue
        if spec["kind"] == "paired_open":  # the rate: a fraction of an earlier pair's leg
            base = done[spec["rate_of"]][f"{spec.get('rate_leg', 'b')}_items_per_s"]
            measured = await asyncio.to_thread(paired_open, spec, base * spec["fraction"])
            done[spec["name"]] = measured
            print(json.dumps(measured), flush=True)
            continue
        rec = Recorder(plan.get("server_pids", []))
        extra: dict[str, Any] = {}
        if spec["kind"] == "unary":
            window = await unary_closed(channels, spec, rec)
        elif spec["kind"] == "open":
            base = done[spec["rate_of"]]["calls_per_s"]
            rate = base * spec["fraction"]
            window = await asyncio.to_thread(
                unary_open, plan["target"], len(channels), spec, rec, rate
            )
            extra = {
                "target_rate": rate,
                "service_p99_ms": window.service_p99 * 1e3,
            }
        else:
            window = await stream(channels, {"target": plan["target"], **spec}, rec)
        result = {**{k: v for k, v in spec.items() if k != "kind"}, "kind": spec["kind"]}
        result.update(window.result(**extra))
        done[spec["name"]] = result
        print(json.dumps(result), flush=True)
    for channel in channels:
        await channel.close()


def main() -> None:
    """Reads the plan from stdin."""
    plan = json.load(sys.stdin)
    asyncio.run(run(plan))


if __name__ == "__main__":
    main()
