"""bench.probes.soak: a short real soak, checked answers, both health probers in the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import procs
from bench.probes.soak import HealthProber

SOAK = [sys.executable, "-m", "bench.probes.soak"]


def test_a_short_soak_passes_and_reports_health_from_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    run = subprocess.run(
        # 5 s is all warm-up for RSS (caches fill for ~10 s): its growth check is not tested here
        [*SOAK, "--seconds", "5", "--max-rss-growth-mib", "1000", "--json", str(out)],
        cwd=procs.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert report["errors"] == 0 and report["lost_items"] == 0 and report["ok"] is True
    assert report["stream_items"] > 0 and report["calls"] > 0
    own = report["latency"][HealthProber.KIND]
    assert own["count"] >= 10  # a Check every 100 ms for 5 s, from the prober's process
    assert 0 < own["p50_ms"] <= own["p99_ms"] <= own["max_ms"]
    assert report["latency"]["health, from the load"]["count"] > 0
    assert HealthProber.KIND in run.stdout


def test_the_health_prober_fails_in_one_line_when_the_server_never_answers() -> None:
    port = procs.free_port()  # nothing listens: its first Check never becomes ready
    prober = subprocess.run(
        [sys.executable, "-m", "bench.probes.health_prober", f"127.0.0.1:{port}"],
        cwd=procs.ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert prober.returncode == 1
    expected = f"health prober: 127.0.0.1:{port} never answered: DEADLINE_EXCEEDED"
    assert prober.stderr.strip() == expected
