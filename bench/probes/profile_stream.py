"""Where the server's time goes under ClassifyStream load: py-spy on the live server.

`python -m bench.probes.profile_stream` starts the default server
(`python -m whatsapp_errors.server`), drives it with the load generator's stream scenario
(batches of 1000 failed-status webhooks, answers decoded and checked, as in
`make bench`), and once the server is busy samples it with py-spy for
`--seconds`. It prints the top functions by own samples (the frame that
was running) and the service's own functions (server/) by total samples
(the frame anywhere on the stack), each as a share of all samples. `--out`
keeps py-spy's raw stacks (collapsed format, for a flame graph).

py-spy samples from outside the process (ptrace; root or CAP_SYS_PTRACE),
so the server runs unmodified; at the default 100 samples/s it costs the
server a few percent. For the handler alone without gRPC around it, in
process, see `bench.probes.handler_cost --profile` (cProfile or pyinstrument).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procs
from bench.loadgen import cpu_seconds

PY_SPY = "py-spy"


def _py_spy() -> str:
    """py-spy from this venv's bin, else from PATH."""
    local = Path(sys.executable).with_name(PY_SPY)
    found = str(local) if local.exists() else shutil.which(PY_SPY)
    if found is None:
        raise RuntimeError("needs py-spy (pip install py-spy; in the bench extra)")
    return found


def top_frames(raw: str, count: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The `count` functions with the most own and total samples, as shares of all samples.

    `raw` is py-spy's collapsed output: one `frame;frame;...;leaf N` line per
    distinct stack, outermost frame first.
    """
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        n = int(number)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    share = 100 / samples if samples else 0.0
    ours = [(f, n) for f, n in total.most_common() if "server/" in f and "__main__" not in f]
    return {
        "own": [(frame, n * share) for frame, n in own.most_common(count)],
        "total": [(frame, n * share) for frame, n in ours[:count]],
        "samples": [("samples", float(samples))],
    }


def _wait_busy(pid: int, timeout: float = 60.0) -> None:
    """Returns once `pid` uses more than half a core over 0.5 s (the load has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds([pid])
        time.sleep(0.5)
        if cpu_seconds([pid]) - before > 0.25:
            return
    raise TimeoutError("the server never got busy")


def profile(seconds: float, rate: int, distinct: int, out: Path | None) -> str:
    """py-spy's raw stacks of the default server while it answers the stream scenario."""
    spy = _py_spy()
    server = procs.start_server("service", procs.DEFAULT)
    spec = {
        "name": "profiled",
        "kind": "stream",
        "batch": 1000,
        "streams": 4,
        "window": 2,
        "seconds": seconds + 4,
        "warmup": 1.0,
        "decode": True,
        "bodies": "failed",
        "distinct": distinct,
    }
    plan = {"channels": 4, "scenarios": [spec], "target": server.target}
    plan["server_pids"] = server.pids()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pyspy-") as tmp:
            raw_path = out or Path(tmp) / "stacks.txt"
            load = subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=procs.ROOT,
            )
            assert load.stdin is not None and load.stdout is not None
            load.stdin.write(json.dumps(plan).encode())
            load.stdin.close()
            _wait_busy(server.pids()[0])
            time.sleep(1.0)
            command = [spy, "record", "-p", str(server.pids()[0]), "-d", str(round(seconds))]
            command += ["-r", str(rate), "-f", "raw", "-F", "-o", str(raw_path)]
            subprocess.run(command, check=True, capture_output=True)
            result = load.stdout.read().decode()
            if load.wait() != 0:
                raise RuntimeError("the load generator failed: no profile of wrong answers")
            measured = json.loads(result.splitlines()[-1])
            print(
                f"under load: {measured['items_per_s']:,.0f} items/s, server CPU "
                f"{measured['server_us_per_item']:.1f} µs per item (every answer checked)"
            )
            return raw_path.read_text()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Prints the top frames."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.probes.profile_stream", description=__doc__
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="sampled seconds")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--distinct", type=int, default=20_000, help="distinct bodies sent")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None, help="keep py-spy's raw stacks here")
    args = parser.parse_args(argv)
    tops = top_frames(profile(args.seconds, args.rate, args.distinct, args.out), args.top)
    print(f"{tops['samples'][0][1]:.0f} samples")
    for kind in ("own", "total"):
        which = "own samples" if kind == "own" else "total samples, frames in server/"
        print(f"\ntop {args.top} by {which} (% of all samples)")
        for frame, pct in tops[kind]:
            print(f"  {pct:5.1f}  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
