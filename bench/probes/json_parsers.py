"""Which JSON parser the classifier should use: stdlib json vs orjson vs msgspec.

`python -m bench.probes.json_parsers` times each parser on realistic webhook bodies
(the benchmark's mixed workload, one failed status as Meta sends it, and a
batched webhook of 100 statuses with pricing and conversation blocks) and
prints two small tables: parsing alone, and parsing plus finding every error
(`generic_reader.extract_errors` of whatsapp_errors.server.classify on the parsed
document, or the typed msgspec
decoder of `whatsapp_errors.server.classify.webhook_reader` that skips unused fields while parsing).
Numbers are microseconds per body, best of 15 interleaved rounds, in process.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import orjson

from bench import workload
from tests.support import webhooks
from whatsapp_errors.server.classify.generic_reader import extract_errors
from whatsapp_errors.server.classify.webhook_reader import extract_webhook_errors

_MSGSPEC = msgspec.json.Decoder()

PARSERS: dict[str, Callable[[bytes], Any]] = {
    "json (stdlib)": json.loads,
    "orjson": orjson.loads,
    "msgspec (untyped)": _MSGSPEC.decode,
}
"""Each parser turns a body into plain dicts and lists."""

EXTRACTORS: dict[str, Callable[[bytes], Any]] = {
    "json + extract_errors": lambda body: extract_errors(json.loads(body)),
    "orjson + extract_errors": lambda body: extract_errors(orjson.loads(body)),
    "msgspec + extract_errors": lambda body: extract_errors(_MSGSPEC.decode(body)),
    "msgspec typed (fastpath)": extract_webhook_errors,
}
"""Each turns a body into the errors it holds (what Classify does before lookups)."""


def batched_webhook(statuses: int, seed: int = workload.SEED) -> bytes:
    """One webhook carrying `statuses` statuses (a fifth failed), as busy accounts get them."""
    rng = random.Random(seed)
    codes = workload.catalog_codes()
    items = []
    for i in range(statuses):
        failed = i % 5 == 0
        errors = [webhooks.error_object(rng, rng.choice(codes))] if failed else []
        items.append(webhooks.status_object(rng, "failed" if failed else "delivered", errors))
    body = webhooks.webhook_envelope(rng, {"statuses": items})
    return json.dumps(body, separators=(",", ":")).encode()


def workloads() -> dict[str, list[bytes]]:
    """The bodies timed, by name."""
    mixed = workload.mixed_payloads(2000)
    failed = workload.mixed_payloads(1, mix=workload.Mix(100, 0, 0, 0, 0, 0))
    return {
        "mixed (2000 bodies)": mixed,
        "1 failed status": failed * 200,
        "100 statuses": [batched_webhook(100)] * 20,
    }


def time_pass(run: Callable[[bytes], Any], bodies: Sequence[bytes]) -> float:
    """Microseconds per body for one pass over `bodies`."""
    start = time.perf_counter()
    for body in bodies:
        run(body)
    return (time.perf_counter() - start) / len(bodies) * 1e6


def table(
    title: str,
    runners: dict[str, Callable[[bytes], Any]],
    loads: dict[str, list[bytes]],
    rounds: int,
) -> list[str]:
    """One Markdown table: a row per runner, a column per workload, speed-up vs the first row.

    Rounds interleave the runners (a burst of load elsewhere on the machine
    hits them all alike) and each cell keeps its best round.
    """
    names = list(loads)
    best = {(r, n): float("inf") for r in runners for n in names}
    for run in runners.values():  # warm-up
        for name in names:
            for body in loads[name][:50]:
                run(body)
    for _ in range(rounds):
        for runner_name, run in runners.items():
            for name in names:
                cell = (runner_name, name)
                best[cell] = min(best[cell], time_pass(run, loads[name]))
    header = f"| {title} | " + " | ".join(f"{n} µs" for n in names) + " | vs first row |"
    lines = [header, "|---" * (len(names) + 2) + "|"]
    first = next(iter(runners))
    for runner_name in runners:
        times = [best[runner_name, n] for n in names]
        speedup = sum(best[first, n] / best[runner_name, n] for n in names) / len(names)
        cells = " | ".join(f"{t:.2f}" for t in times)
        lines.append(f"| {runner_name} | {cells} | {speedup:.1f}x |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the two tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="passes per cell (best is kept)")
    args = parser.parse_args(argv)
    loads = workloads()
    sizes = ", ".join(
        f"{name}: {sum(map(len, bodies)) // len(bodies)} B" for name, bodies in loads.items()
    )
    print(
        f"Python {platform.python_version()}, orjson {orjson.__version__}, "
        f"msgspec {msgspec.__version__}; mean body size: {sizes}"
    )
    print()
    print("\n".join(table("parse only", PARSERS, loads, args.rounds)))
    print()
    print("\n".join(table("parse + find errors", EXTRACTORS, loads, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
