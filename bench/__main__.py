"""`make bench` / `python -m bench`: the whole benchmark in one run.

Order: in-process baselines (pywa, the service's classifier, json + dict),
the empty-handler reference server, the service with 1 worker and with N
(all of it `--runs` times), then the paired ratios (issue 20's ratio targets,
each measured in alternating slices: classifier / pywa in process, unary /
empty handler, the unary p99 at the same offered load, ClassifyStream /
pywa), start-up time and the memory run (RSS over 2 million streamed
items). Each server is a fresh `python -m ...` subprocess and the load comes
from a separate load-generator process (bench/loadgen.py). The bodies are
200,000 failed-status webhooks (bench/workload.py), the same for the
service and for pywa. BENCH_SECONDS sets the measured seconds per scenario
(default 3).
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
from whatsapp_errors.server import hot_path
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog

RESULTS = Path(__file__).resolve().parent / "results"
BATCHES = (1, 10, 100, 1000)
MEMORY_ITEMS = 2_000_000
QUICK_BODIES = 4000
"""Distinct failed-status bodies of a `--quick` run (generating 200,000 takes seconds)."""
MEMORY_BODIES = 20_000
"""Distinct mixed bodies the memory run cycles through (every reader path, unlisted codes)."""
TARGET_FRACTION = 0.5
"""The p99 target's offered load: this fraction of the empty handler's closed-loop calls/s."""


def _distinct(batch: int, bodies: int) -> int:
    """Distinct failed-status bodies a stream row sends: all of them from batch 100 up.

    Small batches cycle fewer (4,000 requests' worth): pre-serialising
    200,000 one-item requests per row would take longer than the row.
    """
    return min(bodies, 4000 * batch)


def _stream_spec(
    batch: int, seconds: float, warmup: float, decode: bool, bodies: int
) -> dict[str, Any]:
    return {
        "name": f"stream/{batch}",
        "kind": "stream",
        "batch": batch,
        "streams": 4,
        "window": 32 if batch == 1 else 8 if batch <= 100 else 2,
        "seconds": seconds,
        "warmup": warmup,
        "decode": decode,
        "bodies": "failed",
        "distinct": _distinct(batch, bodies),
        "prime": decode and batch >= 100,  # every answer fully checked before the measurement
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


def plan_for(server: str, seconds: float, warmup: float, bodies: int) -> dict[str, Any]:
    """The scenarios run against one server (`bodies`: distinct failed-status webhooks)."""
    if server == "reference":  # its answers are constants: the load generator checks the bytes
        scenarios = [
            {**_unary_spec("unary", "bare", seconds, warmup), "response": EMPTY_UNARY.hex()}
        ]
        scenarios += [
            {
                **_stream_spec(b, seconds, warmup, decode=False, bodies=bodies),
                "response": EMPTY_STREAM.hex(),
            }
            for b in BATCHES
        ]
    else:
        scenarios = [
            _unary_spec("unary/bare", "bare", seconds, warmup),
            _unary_spec("unary/webhook", "webhook", seconds, warmup),
        ]
        scenarios += [_stream_spec(b, seconds, warmup, True, bodies) for b in BATCHES]
    return {"channels": 4, "scenarios": scenarios}


IN_PROCESS = ("pywa", "service classifier", "stdlib json + dict", "orjson + dict")
"""The in-process rows, on the failed-status bodies (bench/workload.py candidates)."""


def in_process(seconds: float, bodies: int) -> list[dict[str, Any]]:
    """The failed-status bodies classified in this process, without the service."""
    sent = workload.payloads("failed", bodies)
    candidates = workload.candidates()
    rows = []
    for name in IN_PROCESS:
        runner = workload.CheckedRunner(name, candidates[name], sent)
        measured = workload.time_in_process(runner, seconds)
        rows.append({"id": f"inproc/{name}", "server": "in-process", "kind": "inproc", **measured})
    return rows


def servers(
    workers: list[int], seconds: float, warmup: float, bodies: int, progress: Any = None
) -> list[dict[str, Any]]:
    """Every scenario against the reference and the service with each worker count."""
    rows: list[dict[str, Any]] = []
    configs = [("reference", 1)] + [("service", n) for n in workers]
    for kind, count in configs:
        if progress is not None:
            progress.set_postfix_str(f"{kind} w{count}")
        server = procs.start_server(kind, count)
        try:
            results, _ = procs.run_loadgen(plan_for(kind, seconds, warmup, bodies), server)
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


def _pywa_leg(bodies: int) -> dict[str, Any]:
    return {
        "name": "inproc/pywa",
        "kind": "inproc",
        "candidate": "pywa",
        "bodies": "failed",
        "distinct": bodies,
    }


def paired(
    compare: list[int], pairs: int, slice_s: float, open_slice: float, bodies: int
) -> tuple[list[dict[str, Any]], int]:
    """The ratio targets, each measured in alternating slices (bench/loadgen.py), in one process.

    All servers run at once (an idle one costs nothing), so consecutive
    slices compare the service with its baseline under the same host speed:
    the in-process classifier against pywa; the default server's unary
    Classify against the empty handler's, closed loop, then both in open
    loop at the same offered load (TARGET_FRACTION of the empty handler's
    closed-loop rate); its ClassifyStream (batches of 1000 failed-status
    webhooks, answers decoded) against pywa in process on the same bodies;
    and the same with each worker count in `compare`, for context. Returns
    the results and the default server's worker count.
    """
    started = [procs.start_server("reference", 1), procs.start_server("service", procs.DEFAULT)]
    try:
        reference, default = started
        others = {}
        for count in compare:
            if count != default.workers:
                others[count] = procs.start_server("service", count)
                started.append(others[count])
        warm = 0.2 if slice_s >= 0.5 else 0.05
        pywa = _pywa_leg(bodies)
        scenarios = [
            _paired_spec(
                "paired/inproc",
                pairs,
                slice_s,
                {**pywa, "name": "inproc/service classifier", "candidate": "service classifier"},
                pywa,
            )
        ]
        unary = _unary_spec("", "bare", slice_s, warm)
        opened = {"kind": "open", "request": "bare"}
        empty = {"response": EMPTY_UNARY.hex()}
        stream = {**_stream_spec(1000, slice_s, warm, True, bodies), "distinct": bodies}
        servers = [("default", default), *((f"w{n}", server) for n, server in others.items())]
        for label, server in servers:  # the default's pairs are the targets; others context
            suffix = "" if label == "default" else f"/{label}"
            scenarios.append(
                _paired_spec(
                    f"paired/unary{suffix}",
                    pairs,
                    slice_s,
                    _leg(unary, f"service/{label}/unary/bare", server),
                    {**_leg(unary, "reference/w1/unary", reference), **empty},
                )
            )
            scenarios.append(
                {
                    "name": f"paired/open{suffix}",
                    "kind": "paired_open",
                    "rate_of": "paired/unary",  # the default's pair: one offered load for all
                    "rate_leg": "b",
                    "fraction": TARGET_FRACTION,
                    "pairs": max(2, pairs // 2),
                    "slice": open_slice,
                    "warmup": 0.5 if open_slice >= 1 else 0.1,
                    "legs": [
                        _leg(opened, f"service/{label}/open/bare", server),
                        {**_leg(opened, "reference/w1/open", reference), **empty},
                    ],
                }
            )
            scenarios.append(
                _paired_spec(
                    f"paired/stream1000/{label}",
                    pairs,
                    slice_s,
                    _leg(stream, f"service/{label}/stream/1000", server),
                    pywa,
                )
            )
        results, _ = procs.run_loadgen({"channels": 1, "scenarios": scenarios}, default)
    finally:
        for server in started:
            server.stop()
    return results, default.workers


def startup(times: int) -> dict[str, Any]:
    """Seconds from spawning `python -m whatsapp_errors.server` to health SERVING, full catalog."""
    samples = []
    for _ in range(times):
        server = procs.start_server("service", procs.DEFAULT)
        samples.append(server.startup_s)
        server.stop()
    codes = len(load_catalog(EMBEDDED_CATALOG).listings)
    return {"samples_s": samples, "median_s": statistics.median(samples), "catalog_codes": codes}


def memory(items: int) -> dict[str, Any]:
    """RSS of one worker of the default server while `items` mixed webhooks stream through."""
    server = procs.start_server("service", procs.DEFAULT)
    try:
        idle = procs.rss_mib(server.pids()[0])
        spec = {
            **_stream_spec(1000, 0, 0, decode=True, bodies=MEMORY_BODIES),
            "name": "memory",
            "items": items,
            "bodies": "mixed",
            "streams": 2,
            "prime": False,
        }
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


def _loads(loads: tuple[float, float, float]) -> str:
    return "/".join(f"{load:.1f}" for load in loads)


def main(argv: list[str] | None = None) -> int:
    """Runs everything, prints the table and targets, writes JSON and the chart."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds in all (smoke run)")
    parser.add_argument("--runs", type=int, default=1, help="repeat the scenario rows, medians")
    parser.add_argument("--workers", default="1,2", help="service worker counts to compare")
    parser.add_argument("--memory-items", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    seconds = float(os.environ.get("BENCH_SECONDS", "0.3" if args.quick else "3"))
    warmup = 0.1 if args.quick else 0.5
    workers = [int(n) for n in args.workers.split(",")]
    memory_items = args.memory_items or (20_000 if args.quick else MEMORY_ITEMS)
    bodies = QUICK_BODIES if args.quick else workload.BASELINE_WEBHOOKS
    began = time.perf_counter()
    load_at_start = os.getloadavg()

    runs = []
    cross_check = h2load.available()
    # servers per run, then paired, start-up, memory and (when installed) h2load
    steps = args.runs * (len(workers) + 1) + 3 + int(cross_check)
    bar = {"file": sys.stderr, "disable": not sys.stderr.isatty(), "unit": "step"}
    with tqdm(total=steps, desc="bench", **bar) as progress:
        for run in range(args.runs):
            progress.set_description(f"run {run + 1}/{args.runs}")
            progress.set_postfix_str("in process")
            rows_of_run = in_process(seconds, bodies)
            runs.append(rows_of_run + servers(workers, seconds, warmup, bodies, progress))
        rows = report.median_rows(runs)
        report.add_ratios(rows)
        progress.set_description("paired ratios")
        progress.set_postfix_str("")
        pairs, default_workers = paired(
            workers,
            2 if args.quick else 8,
            0.2 if args.quick else 1.0,
            0.3 if args.quick else 2.0,
            bodies,
        )
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
    checks = report.targets(pairs, mem, started, default_workers, rows, cross)

    print(report.table(rows))
    print("\n" + report.paired_table(pairs))
    print(
        f"\nstart-up to SERVING (default server, {started['catalog_codes']} catalog codes): "
        f"median {started['median_s']:.3f}s of {[round(s, 3) for s in started['samples_s']]}"
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
    print(
        f"\nload average (1, 5, 15 min) at the start {_loads(load_at_start)}, at the end "
        f"{_loads(os.getloadavg())} on {os.cpu_count()} CPUs: other work on the machine "
        "shows here"
    )
    ran = hot_path.describe()
    print(f"\nthe service's hot path: {ran} (server/hot_path.py)")
    print("\ntargets (issue 20):\n" + report.verdicts(checks))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "created": stamp,
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "bench_seconds": seconds,
        "runs": args.runs,
        "bodies": {"kind": "failed statuses", "distinct": bodies},
        "default_workers": default_workers,
        "hot_path": ran,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": load_at_start,
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
