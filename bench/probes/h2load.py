"""A second load generator, in C: h2load (nghttp2) driving unary Classify over HTTP/2.

Why a second one: the Python load generator (bench/loadgen.py) spends more
CPU per unary call than the empty-handler server does, on the same vCPUs the
server runs on. It is the same for every server, so ratios stay fair, but it
caps what "saturation" means. h2load spends a small fraction of that per
call, so this measures the unary numbers of two targets again with a cheap
client:

- closed loop (16 calls in flight): the empty handler (bench/servers/reference.py)
  and the service with 1 worker and with 2, in rotating 1 s slices (ABC CBA
  ...) so the host's speed swings fall on all of them alike; the unary ratio
  (service over empty handler, the unary throughput target) is the median
  per-round ratio, as in the paired Python scenarios;
- open loop at the same offered load for both, half of the empty handler's
  closed-loop rate (h2load --rps): the empty handler and the service with 1
  worker (the p99 target's definition), with every call's latency from
  h2load's log and the machine meter (bench/machine_meter.py) beside it.

h2load sees HTTP/2, not gRPC: it counts every HTTP 200 as a success, and
gRPC answers errors with a 200 and the status in the trailers (UNIMPLEMENTED
for a path no server has, with no DATA frame). So every run is checked
twice. Before it, one real gRPC call (grpcio) on the exact path h2load will
load must be answered OK with the expected answer: the empty handler's
constant bytes, or a real ClassifyResponse from the service. After it, the
DATA bytes h2load reports received must equal the calls it counts as
succeeded times that answer's gRPC frame (5 + its length), so a run with
error answers, or answers of another size, raises instead of giving a rate.

h2load times a call from when it sent it, and it sends late calls at once
when a 1 ms timer tick finds them due; with 64 streams per connection open
it is never held back by the server at these rates (the achieved rate is
reported next to the asked one).

`python -m bench.probes.h2load` (or `make bench-h2load`) writes
bench/results/h2load.json; `make bench` runs it too when h2load is on PATH
(`make bench-deps`, Debian package nghttp2-client).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bench import answers, machine_meter, procs, workload
from bench.loadgen import cpu_seconds
from bench.names import CLASSIFY
from bench.stats import percentile

H2LOAD = "h2load"
CLIENTS = 4
"""Connections; with STREAMS each, 16 calls in flight, as in the Python closed loop."""
STREAMS = 4
OPEN_STREAMS = 64
"""Streams per connection in open loop: room for 64 late answers before a send waits."""
SERVERS = (("reference", 1), ("service", 1), ("service", 2))
"""Measured in closed loop; OPEN_SERVERS also in open loop."""
OPEN_SERVERS = ("reference/w1", "service/w1")
OPEN_FRACTION = 0.5
"""Open loop at half of the empty handler's closed-loop rate, for both, as the p99 target says."""
QUICK: dict[str, Any] = {"rounds": 2, "slice_s": 0.2, "seconds": 0.5, "warmup": 0.2}
"""`measure` arguments for `python -m bench --quick` (a smoke run, not a measurement)."""
_FINISHED = re.compile(r"finished in [\d.]+m?s, ([\d.]+) req/s")
_REQUESTS = re.compile(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded")
_STATUS = re.compile(r"status codes: (\d+) 2xx")
_TRAFFIC = re.compile(r"traffic: .* \((\d+)\) data")


def available() -> bool:
    """Whether h2load is on PATH."""
    return shutil.which(H2LOAD) is not None


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


@dataclass(frozen=True)
class Checked:
    """A server whose answer on the loaded path was checked with a real gRPC call."""

    target: str
    frame: int
    """Bytes of the checked answer as a gRPC frame: every call's DATA must be this much."""


def check_answers(
    target: str, path: str, request: bytes, expect: bytes | None, timeout: float = 10.0
) -> Checked:
    """One real gRPC call on `path`: answered OK with the expected answer, else it raises.

    `expect` as in `answers.first_unary`; raises answers.WrongAnswerError
    naming the path and the status (UNIMPLEMENTED for a path nobody serves,
    DEADLINE_EXCEEDED when nothing answers).
    """
    with grpc.insecure_channel(target) as channel:
        method = channel.unary_unary(path)
        try:
            answer = method(request, timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise answers.refused(path, exc, 0) from exc
    answers.first_unary(path, answer, expect)
    return Checked(target, len(grpc_frame(answer)))


def parse_summary(output: str, path: str, frame: int) -> dict[str, float]:
    """req/s and the counts from h2load's summary; raises unless every call got the answer.

    Every call must be done, succeeded and HTTP 2xx, and the DATA bytes
    received must be the succeeded calls times `frame`: a gRPC error is an
    HTTP 200 without DATA, so it shows here and nowhere else.
    """
    found = [p.search(output) for p in (_FINISHED, _REQUESTS, _STATUS, _TRAFFIC)]
    rate, counts, status, traffic = found
    if rate is None or counts is None or status is None or traffic is None:
        raise RuntimeError(f"unexpected h2load output:\n{output[-800:]}")
    total, done, succeeded = (int(g) for g in counts.groups())
    ok, data = int(status.group(1)), int(traffic.group(1))
    if not total == done == succeeded == ok:
        raise answers.WrongAnswerError(
            f"h2load on {path}: calls failed: {counts.group(0)}; {status.group(0)}"
        )
    if data != succeeded * frame:
        raise answers.WrongAnswerError(
            f"h2load on {path}: {succeeded} calls answered HTTP 200 ({status.group(0)}) but "
            f"{data} DATA bytes arrived, not {succeeded} x {frame}: "
            f"{'no call' if data == 0 else 'not every call'} got the checked gRPC answer "
            "(an error status, UNIMPLEMENTED included, comes with no DATA)"
        )
    return {"req_per_s": float(rate.group(1)), "calls": float(done), "data_bytes": float(data)}


def parse_log(text: str) -> list[tuple[float, float]]:
    """(start, latency) in seconds per call from h2load's --log-file, ordered by start.

    The columns are start (µs since the epoch), HTTP status, µs until the end
    of the response; a status other than 200 is an error.
    """
    calls = []
    for line in text.splitlines():
        if not line.strip():
            continue
        start_us, status, took_us, *_ = line.split("\t")
        if status != "200":
            raise RuntimeError(f"h2load call answered HTTP {status}")
        calls.append((int(start_us) / 1e6, int(took_us) / 1e6))
    calls.sort()
    return calls


class H2Load:
    """Runs h2load against `path` of checked servers, with the request in a temp file."""

    def __init__(self, request: bytes, workdir: Path, path: str = CLASSIFY) -> None:
        self.request = request
        self.path = path
        self.body = workdir / "request.grpc"
        self.body.write_bytes(grpc_frame(request))
        self.log = workdir / "calls.tsv"

    def check(self, target: str, expect: bytes | None) -> Checked:
        """`check_answers` on the path this loads, with the request it sends."""
        return check_answers(target, self.path, self.request, expect)

    def _command(self, target: str, seconds: float, *extra: str) -> list[str]:
        return [
            H2LOAD,
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "-d",
            str(self.body),
            "-D",
            f"{round(seconds * 1000)}ms",  # h2load takes whole units only
            *extra,
            f"http://{target}{self.path}",
        ]

    def _run(self, server: Checked, seconds: float, *extra: str) -> dict[str, float]:
        command = self._command(server.target, seconds, *extra)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"h2load exited {done.returncode}: {done.stderr[-400:]}")
        return parse_summary(done.stdout, self.path, server.frame)

    def closed(self, server: Checked, seconds: float, clients: int = CLIENTS) -> float:
        """Calls/s with `clients` x STREAMS calls in flight for `seconds`."""
        streams = max(1, CLIENTS * STREAMS // clients)
        return self._run(server, seconds, "-c", str(clients), "-m", str(streams))["req_per_s"]

    def open(
        self,
        server: Checked,
        rate: float,
        seconds: float,
        warmup: float,
        pids: Sequence[int] = (),
        clients: int = CLIENTS,
        streams: int = OPEN_STREAMS,
    ) -> dict[str, Any]:
        """Latency of calls sent at `rate`/s; the first `warmup` seconds are not counted.

        With the server's `pids`, also the server CPU per call (warm-up included).
        `clients` connections with up to `streams` calls in flight on each.
        """
        per_client = max(1, round(rate / clients))
        extra = ["-c", str(clients), "-m", str(streams), "--rps", str(per_client)]
        self.log.unlink(missing_ok=True)  # h2load appends to an existing log
        extra += ["--log-file", str(self.log)]
        meter = machine_meter.Beside(seconds, warmup)
        epoch_minus_mono = time.time() - time.perf_counter()
        cpu_before, began = cpu_seconds(pids), time.perf_counter()
        try:
            summary = self._run(server, warmup + seconds, *extra)
            cpu, wall = cpu_seconds(pids) - cpu_before, time.perf_counter() - began
            machine, slow = meter.result(timeout=30)
        finally:
            meter.kill()
        calls = parse_log(self.log.read_text())
        measured = [(s, took) for s, took in calls if s >= calls[0][0] + warmup] if calls else []
        latencies = sorted(took for _, took in measured)
        clean = sorted(
            took
            for start, took in measured
            if not slow.overlaps(start - epoch_minus_mono, start - epoch_minus_mono + took)
        )
        span = (measured[-1][0] - measured[0][0]) if len(measured) > 1 else seconds
        return {
            "target_rate": per_client * clients,
            "calls_per_s": len(measured) / max(span, 1e-9),
            "calls": len(measured),
            "server_cpu_pct": 100 * cpu / wall,
            "server_us_per_call": 1e6 * cpu / max(summary["calls"], 1),
            "p50_ms": percentile(latencies, 0.50) * 1e3,
            "p99_ms": percentile(latencies, 0.99) * 1e3,
            "p999_ms": percentile(latencies, 0.999) * 1e3,
            "max_ms": (latencies[-1] if latencies else 0.0) * 1e3,
            "slow_cpu_pct": machine["slow_pct"],
            "clean_calls_pct": 100 * len(clean) / max(len(latencies), 1),
            "clean_p99_ms": percentile(clean, 0.99) * 1e3,
        }


def _name(kind: str, workers: int) -> str:
    return f"{kind}/w{workers}"


def rotate(names: Sequence[str], rounds: int, run: Any) -> dict[str, list[float]]:
    """`run(name)` for every name per round, the order reversed every other round."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        order = list(names) if round_index % 2 == 0 else list(reversed(names))
        for name in order:
            samples[name].append(run(name))
    return samples


def _per_round(samples: dict[str, list[float]], top: str, bottom: str) -> list[float]:
    """`top` over `bottom` in each round: slices a second apart share the host's speed."""
    return [a / b for a, b in zip(samples[top], samples[bottom], strict=True)]


def measure(
    rounds: int = 8,
    slice_s: float = 1.0,
    seconds: float = 4.0,
    warmup: float = 1.0,
) -> dict[str, Any]:
    """Closed-loop rates in rotating slices, then open-loop latency per OPEN_SERVERS.

    Both open loops run at OPEN_FRACTION of the empty handler's closed-loop rate.
    """
    if not available():
        raise RuntimeError("needs h2load (Debian package nghttp2-client)")
    started: dict[str, procs.ServerProcess] = {}
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        load = H2Load(workload.bare_code_request(), Path(tmp))
        checked: dict[str, Checked] = {}
        try:
            for kind, workers in SERVERS:
                name = _name(kind, workers)
                started[name] = server = procs.start_server(kind, workers)
                checked[name] = load.check(server.target, answers.unary_expected(kind))

            cpu_per_call: dict[str, list[float]] = {name: [] for name in started}

            def closed(name: str) -> float:
                server = started[name]
                before = cpu_seconds(server.pids())
                rate = load.closed(checked[name], slice_s, clients=CLIENTS * server.workers)
                cpu_per_call[name].append((cpu_seconds(server.pids()) - before) / (rate * slice_s))
                return rate

            for name in started:  # warm every server up before the first counted slice
                closed(name)
                cpu_per_call[name].clear()
            samples = rotate(list(started), rounds, closed)
            us_per_call = {n: 1e6 * statistics.median(v) for n, v in cpu_per_call.items()}
            rates = {name: statistics.median(values) for name, values in samples.items()}
            ratios = _per_round(samples, "service/w1", "reference/w1")
            open_rows = []
            rate = rates["reference/w1"] * OPEN_FRACTION  # the same offered load for both
            for name in OPEN_SERVERS:
                row = load.open(checked[name], rate, seconds, warmup, started[name].pids())
                open_rows.append({"server": name, "fraction": OPEN_FRACTION, **row})
        finally:
            for server in started.values():
                server.stop()
    return {
        "path": load.path,
        "answer_frame_bytes": {name: server.frame for name, server in checked.items()},
        "closed": {
            "rounds": rounds,
            "slice_s": slice_s,
            "in_flight": CLIENTS * STREAMS,
            "req_per_s": rates,
            "server_us_per_call": us_per_call,
            "samples": samples,
        },
        "unary_ratio": statistics.median(ratios),
        "unary_ratio_min": min(ratios),
        "unary_ratio_max": max(ratios),
        "open": open_rows,
    }


def table(result: dict[str, Any]) -> str:
    """The closed-loop rates and the open-loop latencies as text."""
    closed = result["closed"]
    frames = ", ".join(f"{name} {size} B" for name, size in result["answer_frame_bytes"].items())
    lines = [
        f"h2load on {result['path']}, every call's DATA checked ({frames} per answer)",
        f"h2load closed loop ({closed['in_flight']} in flight, {closed['rounds']} rounds of "
        f"{closed['slice_s']:g} s slices): "
        + ", ".join(
            f"{name} {rate:,.0f}/s ({closed['server_us_per_call'][name]:.0f} µs CPU/call)"
            for name, rate in closed["req_per_s"].items()
        ),
        f"  service/w1 / reference/w1: median {result['unary_ratio']:.3f} "
        f"(per round {result['unary_ratio_min']:.2f}-{result['unary_ratio_max']:.2f})",
    ]
    header = (
        f"{'h2load open loop':<31}{'asked/s':>9}{'got/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p99.9 ms':>10}{'srv cpu%':>9}{'us/call':>8}{'slow%':>7}{'p99 cln':>9}{'cln%':>7}"
    )
    lines += [header, "-" * len(header)]
    for row in result["open"]:
        lines.append(
            f"{row['server'] + ' at ' + format(row['fraction'], 'g') + ' of ref':<31}"
            f"{row['target_rate']:>9,.0f}{row['calls_per_s']:>9,.0f}"
            f"{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['p999_ms']:>10.3f}"
            f"{row['server_cpu_pct']:>9.0f}{row['server_us_per_call']:>8.0f}"
            f"{row['slow_cpu_pct']:>7.1f}{row['clean_p99_ms']:>9.3f}{row['clean_calls_pct']:>7.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Prints the tables and writes the JSON; exits 2 when h2load is missing or a check fails."""
    parser = argparse.ArgumentParser(prog="python -m bench.probes.h2load", description=__doc__)
    parser.add_argument("--rounds", type=int, default=8, help="closed-loop rotations")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured s per open run")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "results"
    )
    args = parser.parse_args(argv)
    try:
        result = measure(rounds=args.rounds, seconds=args.seconds)
    except RuntimeError as exc:  # answers.WrongAnswerError included: no rate is printed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(result))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "h2load.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
