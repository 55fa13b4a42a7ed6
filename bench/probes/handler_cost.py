"""What one ClassifyStream item costs the server's handler, without gRPC around it.

`python -m bench.probes.handler_cost` decodes 1000-item stream requests of the
benchmark's bodies (`--bodies failed`, the throughput targets' failed-status
webhooks, or `mixed`) and answers them with the servicer's own batch code
(`whatsapp_errors.server.rpc.batch.answer_batch_paced`, as ClassifyStream calls it), in
process, and prints microseconds per item (best of several rounds), split
into the stages that matter: decoding
the request, reading each payload (the webhook reader), deciding its errors,
classifying (reading and deciding), encoding the results. `--profile` adds
the top functions of the whole handler by own time (cProfile), and
`--pyinstrument` pyinstrument's call tree of it (`pip install pyinstrument`).
`--instructions` counts instead, under callgrind, the instructions per item
of the whole handler, the reader, the decisions and the encoder: the same on
a quiet or a busy host, so it tells a 3% change from the host's noise.

Each stage runs over the same items without keeping their results alive
(keeping 20,000 answers alive makes the garbage collector walk them all,
which is no stage's cost). This is the floor under `make bench`'s server CPU
per item at batch 1000; the gap between the two is gRPC, the event loop
and sharing the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import itertools
import os
import pstats
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence

from bench import workload
from bench.procs import ROOT
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors
from whatsapp_errors.server.ops.metrics import NoMetrics
from whatsapp_errors.server.rpc.batch import answer_batch_paced
from whatsapp_errors.server.rpc.wire import WireEncoder
from whatsapp_errors.v1 import error_catalog_pb2 as pb

BATCH = 1000
BODIES = 20_000


def _drain(results: Iterable[object]) -> None:
    """Runs a generator to its end, keeping nothing."""
    collections.deque(results, maxlen=0)


def best_us_per_item(run: Callable[[], object], items: int, rounds: int) -> float:
    """Best wall time of `rounds` calls of `run`, in microseconds per item."""
    run()  # warm caches
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best / items * 1e6


def answer_all(requests: Sequence[bytes], classifier: Classifier, encoder: WireEncoder) -> None:
    """What ClassifyStream does for each request, minus gRPC: the live, paced batch path."""
    metrics = NoMetrics()

    async def answer() -> None:
        for raw in requests:
            items = pb.ClassifyStreamRequest.FromString(raw).items
            await answer_batch_paced(classifier, encoder, items, metrics)

    asyncio.run(answer())


def stages(
    requests: Sequence[bytes], classifier: Classifier, encoder: WireEncoder, rounds: int
) -> dict[str, float]:
    """Per-item cost of the whole handler and of its stages."""
    items = len(requests) * BATCH
    decoded = [pb.ClassifyStreamRequest.FromString(raw) for raw in requests]
    payloads = [item.payload for request in decoded for item in request.items]
    classify, decide = classifier.classify_payload, classifier.decide
    sample = payloads[:2000]  # decided and encoded from kept results: few, so GC stays out
    found = [extract_webhook_errors(payload) or [] for payload in sample]
    decisions = [classify(payload) for payload in sample]

    return {
        "whole handler": best_us_per_item(
            lambda: answer_all(requests, classifier, encoder), items, rounds
        ),
        "decode requests": best_us_per_item(
            lambda: _drain(pb.ClassifyStreamRequest.FromString(raw) for raw in requests),
            items,
            rounds,
        ),
        "read payloads": best_us_per_item(
            lambda: _drain(extract_webhook_errors(payload) for payload in payloads), items, rounds
        ),
        "decide errors": best_us_per_item(
            lambda: _drain([decide(raw) for raw in errors] for errors in found),
            len(sample),
            rounds,
        ),
        "classify payloads": best_us_per_item(
            lambda: _drain(classify(payload) for payload in payloads), items, rounds
        ),
        "encode results": best_us_per_item(
            lambda: _drain(encoder.result("1", answer) for answer in decisions),
            len(sample),
            rounds,
        ),
    }


INSTRUCTION_STAGES = ("whole handler", "read payloads", "decide errors", "encode results")
_SMALL_RUN, _LARGE_RUN = 1000, 3000
"""Items of the two callgrind runs per stage: their difference is the per-item count."""
_TOTALS = re.compile(rb"Collected : (\d+)")


def run_stage(stage: str, items: int) -> None:
    """One stage over the first `items` failed-status items, once (under callgrind)."""
    classifier = Classifier(load_catalog(EMBEDDED_CATALOG))
    encoder = WireEncoder(classifier.version)
    requests, _ = workload.request_set("failed", _LARGE_RUN, 100)
    payloads = [
        item.payload for raw in requests for item in pb.ClassifyStreamRequest.FromString(raw).items
    ]
    found = [extract_webhook_errors(payload) or [] for payload in payloads]
    decisions = [classifier.classify_payload(payload) for payload in payloads]
    answer_all(requests[:2], classifier, encoder)  # caches warm, as in a running server
    if stage == "whole handler":
        answer_all(requests[: items // 100], classifier, encoder)
    elif stage == "read payloads":
        _drain(extract_webhook_errors(payload) for payload in itertools.islice(payloads, items))
    elif stage == "decide errors":
        decide = classifier.decide
        _drain([decide(raw) for raw in errors] for errors in itertools.islice(found, items))
    elif stage == "encode results":
        _drain(encoder.result("1", answer) for answer in itertools.islice(decisions, items))


def instructions() -> dict[str, float]:
    """Instructions per item of each stage, counted by callgrind (noise-free).

    Each stage runs twice under `valgrind --tool=callgrind` in a fresh
    interpreter (hash seed fixed), over 1000 and over 3000 items after the
    same set-up; the difference divided by 2000 is the stage's cost per item,
    set-up and start-up cancelled out. The same on a quiet or a busy host.
    """
    if shutil.which("valgrind") is None:
        raise RuntimeError("--instructions needs valgrind (Debian package valgrind)")
    counts: dict[str, float] = {}
    for stage in INSTRUCTION_STAGES:
        totals = []
        for items in (_SMALL_RUN, _LARGE_RUN):
            command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
            command += [sys.executable, "-m", "bench.probes.handler_cost"]
            command += ["--stage", stage, "--items", str(items)]
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            done = subprocess.run(command, capture_output=True, env=env, cwd=ROOT, check=True)
            found = _TOTALS.search(done.stderr)
            if found is None:
                raise RuntimeError(f"no callgrind total for {stage}: {done.stderr[-400:]!r}")
            totals.append(int(found.group(1)))
        counts[stage] = (totals[1] - totals[0]) / (_LARGE_RUN - _SMALL_RUN)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Prints the per-item costs (and a profile with --profile or --pyinstrument)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.probes.handler_cost", description=__doc__
    )
    parser.add_argument("--rounds", type=int, default=7, help="best of this many (default 7)")
    parser.add_argument("--bodies", choices=("failed", "mixed"), default="failed")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile top 15")
    parser.add_argument(
        "--pyinstrument", action="store_true", help="also print pyinstrument's call tree"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instructions per item of each stage under callgrind instead (~3 minutes)",
    )
    parser.add_argument("--stage", choices=INSTRUCTION_STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=_SMALL_RUN, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:  # one callgrind run of `instructions`
        run_stage(args.stage, args.items)
        return 0
    if args.instructions:
        print("failed-status bodies; instructions per item (callgrind, 3000 - 1000 items)")
        for name, count in instructions().items():
            print(f"  {name:<18} {count:9,.0f}")
        return 0
    classifier = Classifier(load_catalog(EMBEDDED_CATALOG))
    encoder = WireEncoder(classifier.version)
    requests, _ = workload.request_set(args.bodies, BODIES, BATCH)
    print(
        f"{len(requests)} requests of {BATCH} {args.bodies} bodies; "
        f"µs per item, best of {args.rounds}"
    )
    for name, cost in stages(requests, classifier, encoder, args.rounds).items():
        print(f"  {name:<18} {cost:6.2f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(answer_all, requests, classifier, encoder)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    if args.pyinstrument:
        try:
            from pyinstrument import Profiler  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            print("--pyinstrument needs pyinstrument: .venv/bin/pip install pyinstrument")
            return 2

        profiler = Profiler(interval=0.0002)
        profiler.start()
        answer_all(requests, classifier, encoder)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
