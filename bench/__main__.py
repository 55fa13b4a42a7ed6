"""`make bench` / `python -m bench`: the whole benchmark in one run.

Order: in-process baselines, the empty-handler reference server, the service
with 1 worker and with N (all of it `--runs` times), then the paired ratios
(the two throughput targets, measured in alternating slices), start-up time
and the memory run (RSS over 2 million streamed items). Each server is a
fresh `python -m ...` subprocess and the load comes from a separate
load-generator process (bench/loadgen.py).
BENCH_SECONDS sets the measured seconds per scenario (default 3).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs shipped

from bench import procs, report, workload
from bench.answers import EMPTY_STREAM, EMPTY_UNARY
from bench.probes import h2load

RESULTS = Path(__file__).resolve().parent / "results"
BATCHES = (1, 10, 100, 1000)
MEMORY_ITEMS = 2_000_000


def _stream_spec(batch: int, seconds: float, warmup: float, decode: bool) -> dict[str, Any]:
    return {
        "name": f"stream/{batch}",
        "kind": "stream",
        "batch": batch,
        "streams": 4,
        "window": 32 if batch == 1 else 8 if batch <= 100 else 2,
        "seconds": seconds,
        "warmup": warmup,
        "decode": decode,
    }


def _unary_spec(name: str, request: str, seconds: float, warmup: float) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "unary",
        "request": request,
        "concurrency": 16,
        "seconds": seconds,
        "warmup": warmup,
    }


def _open_spec(
    name: str, rate_of: str, fraction: float, seconds: float, warmup: float
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "open",
        "request": "bare",
        "rate_of": rate_of,
        "fraction": fraction,
        "seconds": seconds,
        "warmup": warmup,
    }


def plan_for(server: str, seconds: float, warmup: float) -> dict[str, Any]:
    """The scenarios run against one server."""
    if server == "reference":  # its answers are constants: the load generator checks the bytes
        unary = {"response": EMPTY_UNARY.hex()}
        scenarios = [
            {**_unary_spec("unary", "bare", seconds, warmup), **unary},
            {**_open_spec("open", "unary", 0.5, seconds, warmup), **unary},
        ]
        scenarios += [
            {**_stream_spec(b, seconds, warmup, decode=False), "response": EMPTY_STREAM.hex()}
            for b in BATCHES
        ]
    else:
        scenarios = [
            _unary_spec("unary/bare", "bare", seconds, warmup),
            _unary_spec("unary/webhook", "webhook", seconds, warmup),
            _open_spec("open/bare", "unary/bare", 0.5, seconds, warmup),
            _open_spec("open25/bare", "unary/bare", 0.25, seconds, warmup),
        ]
        scenarios += [_stream_spec(b, seconds, warmup, decode=True) for b in BATCHES]
    return {"channels": 4, "scenarios": scenarios}


def in_process(seconds: float) -> list[dict[str, Any]]:
    """The same payloads classified in this process, without the service."""
    payloads = workload.mixed_payloads(2000)
    table = workload.lookup_table()
    rows = []
    candidates: dict[str, Any] = {
        name: workload.classify_with(parse, table) for name, parse in workload.PARSERS.items()
    }
    candidates["service classifier"] = workload.service_classifier()
    for name, classify in candidates.items():
        measured = workload.time_in_process(classify, payloads, seconds)
        rows.append({"id": f"inproc/{name}", "server": "in-process", "kind": "inproc", **measured})
    return rows


def servers(
    workers: list[int], seconds: float, warmup: float, progress: Any = None
) -> list[dict[str, Any]]:
    """Every scenario against the reference and the service with each worker count."""
    rows: list[dict[str, Any]] = []
    configs = [("reference", 1)] + [("service", n) for n in workers]
    for kind, count in configs:
        if progress is not None:
            progress.set_postfix_str(f"{kind} w{count}")
        server = procs.start_server(kind, count)
        try:
            results, _ = procs.run_loadgen(plan_for(kind, seconds, warmup), server)
        finally:
            server.stop()
        for result in results:
            result.update(id=f"{kind}/w{count}/{result['name']}", server=kind, workers=count)
            rows.append(result)
        if progress is not None:
            progress.update()
    return rows


def _leg(spec: dict[str, Any], name: str, server: procs.ServerProcess) -> dict[str, Any]:
    """One leg of a paired scenario: `spec` run against `server`, under `name`."""
    return {**spec, "name": name, "target": server.target, "pids": server.pids()}


def _paired_spec(name: str, pairs: int, slice_s: float, *legs: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "kind": "paired", "pairs": pairs, "slice": slice_s, "legs": list(legs)}


def paired(workers: list[int], pairs: int, slice_s: float) -> list[dict[str, Any]]:
    """The two throughput ratios, each leg measured in alternating slices (bench/loadgen.py).

    All servers run at once (an idle one costs nothing), so consecutive
    slices compare the service with its reference under the same host speed.
    """
    started = [procs.start_server("reference", 1)]
    try:
        for count in workers:
            started.append(procs.start_server("service", count))
        reference, services = started[0], dict(zip(workers, started[1:], strict=True))
        first = workers[0]
        warm = 0.2 if slice_s >= 0.5 else 0.05
        unary = _unary_spec("", "bare", slice_s, warm)
        scenarios = [
            _paired_spec(
                "paired/unary",
                pairs,
                slice_s,
                _leg(unary, f"service/w{first}/unary/bare", services[first]),
                {**_leg(unary, "reference/w1/unary", reference), "response": EMPTY_UNARY.hex()},
            )
        ]
        stream = _stream_spec(1000, slice_s, warm, decode=True)
        scenarios += [
            _paired_spec(
                f"paired/stream1000/w{count}",
                pairs,
                slice_s,
                _leg(stream, f"service/w{count}/stream/1000", services[count]),
                {"name": "inproc/stdlib json", "kind": "inproc"},
            )
            for count in workers
        ]
        results, _ = procs.run_loadgen({"channels": 1, "scenarios": scenarios}, services[first])
    finally:
        for server in started:
            server.stop()
    return results


def startup(times: int) -> dict[str, Any]:
    """Seconds from spawning `python -m server` to health SERVING."""
    samples = []
    for _ in range(times):
        server = procs.start_server("service", 1)
        samples.append(server.startup_s)
        server.stop()
    return {"samples_s": samples, "median_s": statistics.median(samples)}


def memory(items: int) -> dict[str, Any]:
    """RSS of one worker while `items` mixed webhooks stream through in batches of 1000."""
    server = procs.start_server("service", 1)
    try:
        idle = procs.rss_mib(server.pids()[0])
        spec = {**_stream_spec(1000, 0, 0, decode=True), "name": "memory", "items": items}
        spec["streams"] = 2
        results, samples = procs.run_loadgen(
            {"channels": 2, "scenarios": [spec]}, server, sample_rss=0.25
        )
    finally:
        server.stop()
    values = [mib for _, mib in samples]
    tenth = max(1, len(values) // 10)
    settled = statistics.median(values[tenth : 2 * tenth] or values)  # after warm-up
    end = statistics.median(values[-tenth:])
    return {
        "items": items,
        "idle_mib": idle,
        "settled_mib": settled,
        "end_mib": end,
        "max_mib": max(values),
        "growth_mib": end - settled,
        "items_per_s": results[0]["items_per_s"],
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    """Runs everything, prints the table and targets, writes JSON and the chart."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds in all (smoke run)")
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--workers", default="1,2", help="service worker counts to compare")
    parser.add_argument("--memory-items", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    seconds = float(os.environ.get("BENCH_SECONDS", "0.3" if args.quick else "3"))
    warmup = 0.1 if args.quick else 0.5
    workers = [int(n) for n in args.workers.split(",")]
    memory_items = args.memory_items or (20_000 if args.quick else MEMORY_ITEMS)
    began = time.perf_counter()

    runs = []
    cross_check = h2load.available()
    # servers per run, then paired, start-up, memory and (when installed) h2load
    steps = args.runs * (len(workers) + 1) + 3 + int(cross_check)
    bar = {"file": sys.stderr, "disable": not sys.stderr.isatty(), "unit": "step"}
    with tqdm(total=steps, desc="bench", **bar) as progress:
        for run in range(args.runs):
            progress.set_description(f"run {run + 1}/{args.runs}")
            progress.set_postfix_str("in process")
            runs.append(in_process(seconds) + servers(workers, seconds, warmup, progress))
        rows = report.median_rows(runs)
        report.add_ratios(rows)
        progress.set_description("paired ratios")
        progress.set_postfix_str("")
        pairs = paired(workers, 2 if args.quick else 8, 0.2 if args.quick else 1.0)
        progress.update()
        progress.set_description("start-up")
        started = startup(1 if args.quick else 3)
        progress.update()
        progress.set_description("memory")
        mem = memory(memory_items)
        progress.update()
        cross = None
        if cross_check:
            progress.set_description("h2load")
            cross = h2load.measure(**(h2load.QUICK if args.quick else {}))
            progress.update()
    checks = report.targets(rows, mem, started, pairs, cross)

    print(report.table(rows))
    print("\n" + report.paired_table(pairs))
    print(
        f"\nstart-up to SERVING: median {started['median_s']:.3f}s of "
        f"{[round(s, 3) for s in started['samples_s']]}"
    )
    print(
        f"memory: {mem['items']:,} items streamed at {mem['items_per_s']:,.0f}/s; RSS idle "
        f"{mem['idle_mib']:.1f} MiB, settled {mem['settled_mib']:.1f}, end {mem['end_mib']:.1f}, "
        f"max {mem['max_mib']:.1f} MiB"
    )
    if cross is not None:
        print("\n" + h2load.table(cross))
    else:
        print(
            f"\n{h2load.H2LOAD} not installed (Debian: apt-get install nghttp2-client): "
            "the C load-generator cross-check was skipped"
        )
    print("\ntargets:\n" + report.verdicts(checks))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "created": stamp,
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "bench_seconds": seconds,
        "runs": args.runs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_end": os.getloadavg(),
        },
        "rows": rows,
        "paired": pairs,
        "targets": checks,
        "startup": started,
        "memory": mem,
        "h2load": cross,
        "wall_seconds": time.perf_counter() - began,
    }
    name = "quick" if args.quick else "latest"
    report.write_json(args.out / f"{name}.json", document)
    if not args.quick:
        report.write_json(args.out / f"run-{stamp}.json", document)
    report.chart(args.out / f"{name}.png", rows)
    print(
        f"\nwrote {args.out / (name + '.json')} and {args.out / (name + '.png')} "
        f"in {document['wall_seconds']:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
