"""`python -m bench --quick`, `bench.probes.handler_cost` and `.instructions` run end to end.

Only that the benchmark works is asserted here; its numbers are never
checked by tests (they are `make bench`'s job).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.procs import ROOT


def test_quick_bench_writes_results_and_chart(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_SECONDS": "0.2"}
    cmd = [sys.executable, "-m", "bench", "--quick", "--workers", "1,2", "--out", str(tmp_path)]
    cmd += ["--memory-items", "5000"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets:" in done.stdout
    document = json.loads((tmp_path / "quick.json").read_text())
    ids = {row["id"] for row in document["rows"]}
    for expected in (
        "inproc/stdlib json",
        "reference/w1/unary",
        "reference/w1/stream/1000",
        "service/w1/unary/bare",
        "service/w1/unary/webhook",
        "service/w1/open/bare",
        "reference/w1/open",
        "service/w2/stream/1000",
    ):
        assert expected in ids
    for row in document["rows"]:
        assert row["items_per_s"] > 0, row["id"]
    paired = {p["name"]: p for p in document["paired"]}
    assert set(paired) == {"paired/unary", "paired/stream1000/w1", "paired/stream1000/w2"}
    for p in paired.values():
        assert len(p["ratios"]) == p["pairs"] == 2
        assert p["ratio_min"] <= p["ratio"] <= p["ratio_max"]
        assert p["a_items_per_s"] > 0 and p["b_items_per_s"] > 0
    assert paired["paired/unary"]["legs"] == ["service/w1/unary/bare", "reference/w1/unary"]
    checks = document["targets"]
    assert len([check for check in checks if check["met"] is not None]) == 7
    context = {check["target"].strip(): check["value"] for check in checks if check["met"] is None}
    assert context["meanwhile, the machine's own hiccup p99 (ms)"] >= 0
    by_name = {check["target"]: check for check in checks}
    assert by_name["unary Classify (bare) / empty handler"]["value"] == pytest.approx(
        paired["paired/unary"]["ratio"]
    )
    assert 0 <= context["meanwhile, CPU time stolen by the hypervisor (%)"] <= 100
    assert context["the empty-handler server's p99 at half its saturation (ms)"] > 0
    assert 0 <= context["meanwhile, time both CPUs ran >= 3x slower (%)"] <= 100
    assert 0 < context["those calls' share of all calls (%)"] <= 100
    assert context["p99 of the calls that overlapped no slow span (ms)"] > 0
    assert context["the empty-handler server's p99 outside slow spans (ms)"] > 0
    open_loop = next(row for row in document["rows"] if row["id"] == "service/w1/open/bare")
    assert open_loop["hiccup_max_ms"] >= open_loop["hiccup_p99_ms"] >= 0
    assert open_loop["slow_cpu_longest_ms"] >= 0
    assert document["memory"]["items"] == 5000
    assert document["memory"]["end_mib"] > 0
    assert 0 < document["startup"]["median_s"] < 30
    assert (tmp_path / "quick.png").read_bytes().startswith(b"\x89PNG")
    if shutil.which("h2load") is None:
        assert document["h2load"] is None
        assert "cross-check was skipped" in done.stdout
    else:
        assert document["h2load"]["unary_ratio"] > 0
        assert context["the unary ratio with h2load as the client"] > 0
        assert context["h2load: service p99 at half its h2load saturation (ms)"] > 0
        assert context["h2load: empty handler's p99 at half its h2load saturation (ms)"] > 0
        assert "h2load open loop" in done.stdout
        assert "every call's DATA checked" in done.stdout


@pytest.mark.skipif(shutil.which("callgrind_control") is None, reason="valgrind not installed")
def test_instruction_counts_compare_both_servers() -> None:
    cmd = [sys.executable, "-m", "bench.probes.instructions", "--calls", "30", "--warmup", "20"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["calls"] == 30
    assert result["reference_instructions_per_call"] > 10_000  # a real gRPC call, not a no-op
    assert result["service_instructions_per_call"] > 10_000
    assert result["expected_throughput_ratio"] == pytest.approx(
        1 / result["service_over_reference"]
    )


def test_handler_cost_prints_every_stage() -> None:
    cmd = [sys.executable, "-m", "bench.probes.handler_cost", "--rounds", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = {line.split("  ")[1].strip(): line for line in done.stdout.splitlines()[1:]}
    assert set(lines) == {"whole handler", "decode requests", "classify payloads", "encode results"}
    assert all(float(line.split()[-1]) > 0 for line in lines.values())
