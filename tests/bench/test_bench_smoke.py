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
    assert "targets (issue 20):" in done.stdout
    document = json.loads((tmp_path / "quick.json").read_text())
    ids = {row["id"] for row in document["rows"]}
    for expected in (
        "inproc/pywa",
        "inproc/service classifier",
        "inproc/stdlib json + dict",
        "reference/w1/unary",
        "reference/w1/stream/1000",
        "service/w1/unary/bare",
        "service/w1/unary/webhook",
        "service/w2/stream/1000",
    ):
        assert expected in ids
    for row in document["rows"]:
        assert row["items_per_s"] > 0, row["id"]
    assert document["bodies"] == {"kind": "failed statuses", "distinct": 4000}
    paired = {p["name"]: p for p in document["paired"]}
    default = document["default_workers"]
    others = [f"w{n}" for n in (1, 2) if n != default]
    assert set(paired) == {
        "paired/inproc",
        "paired/unary",
        "paired/open",
        "paired/stream1000/default",
        *(f"paired/{kind}/{label}" for kind in ("unary", "open") for label in others),
        *(f"paired/stream1000/{label}" for label in others),
    }
    for p in paired.values():
        if p["kind"] == "paired_open":
            assert p["target_rate"] == paired["paired/open"]["target_rate"]  # one offered load
            continue
        assert len(p["ratios"]) == p["pairs"] == 2
        assert p["ratio_min"] <= p["ratio"] <= p["ratio_max"]
        assert p["a_items_per_s"] > 0 and p["b_items_per_s"] > 0
    assert paired["paired/unary"]["legs"] == ["service/default/unary/bare", "reference/w1/unary"]
    assert paired["paired/inproc"]["legs"] == ["inproc/service classifier", "inproc/pywa"]
    stream = paired["paired/stream1000/default"]
    assert stream["legs"] == ["service/default/stream/1000", "inproc/pywa"]
    assert stream["a_server_us_per_item"] > 0
    opened = paired["paired/open"]
    assert opened["legs"] == ["service/default/open/bare", "reference/w1/open"]
    assert opened["target_rate"] == pytest.approx(0.5 * paired["paired/unary"]["b_items_per_s"])
    assert opened["a_calls"] > 0 and opened["b_calls"] > 0
    assert opened["ratio"] == pytest.approx(opened["a_p99_ms"] / opened["b_p99_ms"])
    checks = document["targets"]
    verdicts = [check for check in checks if check["met"] is not None]
    assert len(verdicts) == 9
    by_name = {check["target"].strip(): check for check in checks}
    assert by_name["unary Classify (bare) / empty handler calls/s"]["value"] == pytest.approx(
        paired["paired/unary"]["ratio"]
    )
    stream_target = next(c for c in verdicts if c["target"].startswith("ClassifyStream 1000"))
    assert stream_target["value"] == pytest.approx(stream["ratio"])
    assert "pywa in process" in stream_target["baseline"]
    assert by_name["stretch: the same ratio"]["limit"] == ">= 2x"
    inproc = by_name["in process: classifier time per webhook / pywa's"]
    assert inproc["value"] == pytest.approx(1 / paired["paired/inproc"]["ratio"])
    assert by_name["the server's CPU per item (µs)"]["value"] == stream["a_server_us_per_item"]
    p99 = by_name["unary p99 at half the empty handler's saturation / its p99"]
    assert p99["value"] == pytest.approx(opened["ratio"]) and p99["limit"] == "<= 1.25x"
    failed = by_name["calls the service failed meanwhile (no answer, not timed)"]
    assert failed["value"] == opened["a_failed"] and failed["limit"] == "<= 0"
    assert opened["a_failed"] == sum(opened["a_failed_by"].values())
    assert done.stdout.count("[PASS]") + done.stdout.count("[MISS]") == 9
    assert all(f"] {c['target']}" in done.stdout for c in verdicts)
    assert document["startup"]["catalog_codes"] >= 372
    assert document["memory"]["items"] == 5000
    assert document["memory"]["end_mib"] > 0
    assert 0 < document["startup"]["median_s"] < 30
    assert (tmp_path / "quick.png").read_bytes().startswith(b"\x89PNG")
    context = {check["target"].strip(): check["value"] for check in checks if check["met"] is None}
    if shutil.which("h2load") is None:
        assert document["h2load"] is None
        assert "cross-check was skipped" in done.stdout
    else:
        assert document["h2load"]["unary_ratio"] > 0
        assert context["the unary ratio with h2load as the client"] > 0
        assert context["h2load, same offered load: service p99 / empty handler p99"] > 0
        rates = {row["target_rate"] for row in document["h2load"]["open"]}
        assert len(rates) == 1  # both servers at the same offered load
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


@pytest.mark.skipif(shutil.which("callgrind_control") is None, reason="valgrind not installed")
def test_instruction_steps_count_each_piece_of_the_unary_path() -> None:
    """Every step's server answers its calls (checked by the probe) and is counted on its own.

    Which step costs what is the measurement (bench/README.md), not a property
    of the tool: 30 calls leave ~10k instructions of noise between steps.
    """
    cmd = [sys.executable, "-m", "bench.probes.instructions", "--calls", "30", "--warmup", "20"]
    done = subprocess.run([*cmd, "--steps"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads(done.stdout)["steps_instructions_per_call"]
    assert list(steps) == [
        "reference",
        "reference, Classify read as a one-message stream",
        "... and a pass-through interceptor",
        "service",
    ]
    assert all(count > 10_000 for count in steps.values())  # real gRPC calls, each counted
    assert len(set(steps.values())) == len(steps)  # four servers, four counts


def test_handler_cost_prints_every_stage() -> None:
    cmd = [sys.executable, "-m", "bench.probes.handler_cost", "--rounds", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = {line.split("  ")[1].strip(): line for line in done.stdout.splitlines()[1:]}
    assert set(lines) == {
        "whole handler",
        "decode requests",
        "read payloads",
        "decide errors",
        "classify payloads",
        "encode results",
    }
    assert all(float(line.split()[-1]) > 0 for line in lines.values())
