"""What one ClassifyStream item costs the server's handler, without gRPC around it.

`python -m bench.probes.handler_cost` decodes the benchmark's 1000-item stream
requests and answers them with the servicer's own `server.rpc.service.answer_batch`,
in process, and prints microseconds per item (best of several rounds), split
into the stages that matter: decoding the request, classifying each payload,
encoding the results. `--profile` adds the top functions by own time (cProfile).

This is the floor under `make bench`'s `srv us/it` for stream/1000; the gap
between the two is gRPC, the event loop and sharing the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable, Sequence

from bench import workload
from server.catalog import EMBEDDED_CATALOG, load_catalog
from server.classify.classifier import Classifier
from server.ops.metrics import NoMetrics
from server.rpc.service import answer_batch
from server.rpc.wire import WireEncoder
from whatsapp.errors.v1 import error_catalog_pb2 as pb

BATCH = 1000


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
    """What ClassifyStream does for each request, minus gRPC."""
    metrics = NoMetrics()
    for raw in requests:
        answer_batch(classifier, encoder, pb.ClassifyStreamRequest.FromString(raw).items, metrics)


def stages(
    requests: Sequence[bytes], classifier: Classifier, encoder: WireEncoder, rounds: int
) -> dict[str, float]:
    """Per-item cost of the whole handler and of its stages."""
    items = len(requests) * BATCH
    decoded = [pb.ClassifyStreamRequest.FromString(raw) for raw in requests]
    payloads = [item.payload for request in decoded for item in request.items]
    classify = classifier.classify_payload
    decisions = [classify(payload) for payload in payloads]

    return {
        "whole handler": best_us_per_item(
            lambda: answer_all(requests, classifier, encoder), items, rounds
        ),
        "decode requests": best_us_per_item(
            lambda: [pb.ClassifyStreamRequest.FromString(raw) for raw in requests], items, rounds
        ),
        "classify payloads": best_us_per_item(
            lambda: [classify(payload) for payload in payloads], items, rounds
        ),
        "encode results": best_us_per_item(
            lambda: [encoder.result("1", found) for found in decisions], items, rounds
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """Prints the per-item costs (and a profile with --profile)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.probes.handler_cost",
        description=__doc__,
    )
    parser.add_argument("--rounds", type=int, default=7, help="best of this many (default 7)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile top 15")
    args = parser.parse_args(argv)
    classifier = Classifier(load_catalog(EMBEDDED_CATALOG))
    encoder = WireEncoder(classifier.version)
    requests = workload.stream_requests(workload.mixed_payloads(2000), BATCH)
    print(f"{len(requests)} requests of {BATCH} mixed bodies; µs per item, best of {args.rounds}")
    for name, cost in stages(requests, classifier, encoder, args.rounds).items():
        print(f"  {name:<18} {cost:6.2f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(answer_all, requests, classifier, encoder)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
