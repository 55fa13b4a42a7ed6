"""Instructions per unary call, service against the empty-handler reference, under callgrind.

On this project's VMs a throughput ratio of two servers swings by +-10%
from one second to the next (the host slows both vCPUs down for spans of
tens of ms), so a 5% difference in per-call cost cannot be seen in
calls/s. `valgrind --tool=callgrind` counts the instructions each server
executes, which is the same on a quiet or a noisy host for the same
binaries and inputs. This runs each server under callgrind, sends WARMUP
calls (caches filled, code paths warm), zeroes the counters, sends CALLS
unary Classify calls (bare code, 16 in flight) from this process, dumps the
counters and divides.

`python -m bench.probes.instructions [--calls N]`; about a minute per server.
Instructions are not seconds (cache misses, syscalls and the kernel are
not counted), so this explains the calls/s ratio, it does not replace it.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from bench import answers, procs, workload
from bench.names import CLASSIFY

IN_FLIGHT = 16
WARMUP = 300
TOTALS = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def send(target: str, calls: int, expect: bytes | None) -> None:
    """`calls` unary Classify calls, IN_FLIGHT at a time, every answer checked.

    The first against `expect` (bench/answers.py), each later one for status
    OK and the same size; a wrong one raises answers.WrongAnswerError.
    """
    request = workload.bare_code_request()
    with grpc.insecure_channel(target) as channel:
        method = channel.unary_unary(CLASSIFY)
        try:
            first = method(request, timeout=120, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise answers.refused(CLASSIFY, exc, 0) from exc
        size = answers.first_unary(CLASSIFY, first, expect)
        pending: deque[Any] = deque(
            method.future(request, timeout=120) for _ in range(min(IN_FLIGHT, calls))
        )
        issued, good = len(pending), 0
        while pending:
            try:
                answer = pending.popleft().result()
            except grpc.RpcError as exc:
                raise answers.refused(CLASSIFY, exc, good) from exc
            if len(answer) != size:
                raise answers.wrong_size(CLASSIFY, len(answer), size, good)
            good += 1
            if issued < calls:
                pending.append(method.future(request, timeout=120))
                issued += 1


STEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reference": ("reference", ()),
    "reference, Classify read as a one-message stream": (
        "reference",
        ("--classify-as", "stream-unary"),
    ),
    "... and a pass-through interceptor": (
        "reference",
        ("--classify-as", "stream-unary", "--interceptor"),
    ),
    "service": ("service", ()),
}
"""`--steps`: from the empty handler to the service, one piece of its unary path at a time."""


def count(
    kind: str, calls: int, workdir: Path, warmup: int = WARMUP, extra_args: Sequence[str] = ()
) -> int:
    """Instructions the `kind` server executed while answering `calls` calls."""
    port = procs.free_port()
    out = workdir / f"{kind}-{port}.callgrind"  # one file per server run, whatever its args
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}.%p",
        "--dump-instr=no",
        "--dump-line=no",
    ]
    popen = subprocess.Popen(
        [*valgrind, *procs.server_command(kind, port, extra_args=extra_args)],
        cwd=procs.ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        procs.wait_serving(port, timeout=300)
        target = f"{procs.HOST}:{port}"
        send(target, warmup, answers.unary_expected(kind))
        control = ["callgrind_control"]
        subprocess.run([*control, "--zero", str(popen.pid)], check=True, capture_output=True)
        send(target, calls, answers.unary_expected(kind))
        subprocess.run([*control, "--dump", str(popen.pid)], check=True, capture_output=True)
    finally:
        popen.kill()
        popen.wait()
    dumps = sorted(workdir.glob(f"{out.name}.{popen.pid}.*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {kind}")
    found = TOTALS.search(dumps[-1].read_bytes())
    if found is None:
        raise RuntimeError(f"no totals line in {dumps[-1]}")
    return int(found.group(1))


def measure(calls: int, warmup: int = WARMUP, steps: bool = False) -> dict[str, Any]:
    """Per-call instructions of both servers and the ratio a CPU-bound loop would show.

    With `steps`, also the reference rebuilt towards the service (STEPS), in
    `steps_instructions_per_call`.
    """
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"needs {' and '.join(missing)} (Debian package valgrind)")
    chosen = STEPS if steps else {name: STEPS[name] for name in ("reference", "service")}
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        per_call = {
            name: count(kind, calls, Path(tmp), warmup, extra) / calls
            for name, (kind, extra) in chosen.items()
        }
    result: dict[str, Any] = {
        "calls": calls,
        "reference_instructions_per_call": per_call["reference"],
        "service_instructions_per_call": per_call["service"],
        "service_over_reference": per_call["service"] / per_call["reference"],
        "expected_throughput_ratio": per_call["reference"] / per_call["service"],
    }
    if steps:
        result["steps_instructions_per_call"] = per_call
    return result


def main(argv: list[str] | None = None) -> int:
    """Prints one JSON object; exits 2 when valgrind is not installed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.probes.instructions",
        description=__doc__,
    )
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per server")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="calls before counting")
    parser.add_argument(
        "--steps", action="store_true", help="also the reference rebuilt towards the service"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        result = measure(args.calls, args.warmup, args.steps)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
