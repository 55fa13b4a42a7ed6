"""Today's server against an earlier commit's, side by side in one run.

`python -m bench.probes.versus --ref <commit>` checks the commit out into a
throwaway git worktree, starts its server (`python -m server` before the
`whatsapp_errors` import root, `python -m whatsapp_errors.server` after) and
today's, one worker each, and drives both with `make bench`'s paired stream
scenario: batches of 1000 failed-status webhooks over one ClassifyStream
connection set, every answer decoded and its codes checked, in alternating
slices A B B A ... so both legs share the host's speed. It prints each leg's
items/s, the server's CPU per item, and today's rate over the earlier one's
(the median of the per-pair ratios, with their spread).

This is how "no regression" is proved after a restructuring or a feature
(issues 16 and 17: "streaming throughput within 10% of today's"): a number
from a run hours earlier measures the host as much as the code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs, workload
from bench.__main__ import _leg, _paired_spec, _stream_spec


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=procs.ROOT, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _start_at(checkout: Path) -> procs.ServerProcess:
    """The server of the checkout at `checkout`, one worker, on a free port."""
    port = procs.free_port()
    if (checkout / "whatsapp_errors").exists():
        module, path = "whatsapp_errors.server", [checkout]
    else:  # before the import root: `server` at the top, the stubs as `whatsapp` in protos/
        module, path = "server", [checkout, checkout / "protos"]
    cmd = [sys.executable, "-m", module, "--host", procs.HOST, "--port", str(port)]
    cmd += ["--log-level", "WARNING", "--workers", "1"]
    began = time.perf_counter()
    popen = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))},
    )
    try:
        procs.wait_serving(port)
    except BaseException:
        popen.kill()
        raise
    return procs.ServerProcess(
        f"service@{checkout.name}", popen, port, time.perf_counter() - began, 1
    )


def measure(ref: str, pairs: int, slice_s: float, bodies: int) -> dict[str, Any]:
    """The paired stream scenario: today's server (A) against `ref`'s (B)."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    head = _git("rev-parse", "HEAD")
    with tempfile.TemporaryDirectory(prefix="versus-") as tmp:
        checkout = Path(tmp) / commit[:12]
        _git("worktree", "add", "--detach", "--quiet", str(checkout), commit)
        started: list[procs.ServerProcess] = []
        try:
            started.append(procs.start_server("service", 1))
            started.append(_start_at(checkout))
            today, earlier = started
            stream = {**_stream_spec(1000, slice_s, 0.2, True, bodies), "distinct": bodies}
            spec = _paired_spec(
                "versus/stream1000",
                pairs,
                slice_s,
                _leg(stream, f"service@{head[:12]}", today),
                # its decisions may differ from today's: every item OK and each answer
                # the same bytes every time, not today's codes
                {**_leg(stream, f"service@{commit[:12]}", earlier), "check_codes": False},
            )
            results, _ = procs.run_loadgen({"channels": 1, "scenarios": [spec]}, today)
        finally:
            for server in started:
                server.stop()
            _git("worktree", "remove", "--force", str(checkout))
    return {"head": head, "ref": commit, **results[0]}


def report(result: dict[str, Any]) -> str:
    """Each leg's rate and CPU per item, and the ratio today / earlier."""
    a, b = result["legs"]
    lines = [
        f"ClassifyStream, batches of 1000 failed-status webhooks, answers decoded and checked, "
        f"{result['pairs']} pairs of {result['slice']:g} s",
        f"  {a:<28}{result['a_items_per_s']:>12,.0f} items/s"
        f"{result.get('a_server_us_per_item', 0.0):>8.1f} µs CPU/item",
        f"  {b:<28}{result['b_items_per_s']:>12,.0f} items/s"
        f"{result.get('b_server_us_per_item', 0.0):>8.1f} µs CPU/item",
        f"  today / earlier: median {result['ratio']:.3f} "
        f"(per pair {result['ratio_min']:.2f}-{result['ratio_max']:.2f})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the comparison; prints it, and writes it as JSON with --json."""
    parser = argparse.ArgumentParser(prog="python -m bench.probes.versus", description=__doc__)
    parser.add_argument("--ref", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--pairs", type=int, default=10, help="A/B slice pairs (default 10)")
    parser.add_argument("--slice", type=float, default=1.0, help="seconds per slice (default 1)")
    parser.add_argument(
        "--bodies",
        type=int,
        default=workload.BASELINE_WEBHOOKS,
        help=f"distinct webhooks (default {workload.BASELINE_WEBHOOKS:,})",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = measure(args.ref, args.pairs, args.slice, args.bodies)
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
