"""Turns benchmark rows into the printed table, the target verdicts, JSON and a PNG chart."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NUMERIC_KEYS = (
    "items_per_s",
    "calls_per_s",
    "p50_ms",
    "p99_ms",
    "service_p99_ms",
    "server_cpu_pct",
    "client_cpu_pct",
    "server_us_per_item",
    "target_rate",
    "steal_pct",
    "hiccup_p99_ms",
    "hiccup_max_ms",
    "slow_cpu_pct",
    "slow_cpu_longest_ms",
    "slowdown_max",
    "clean_calls_pct",
    "clean_p99_ms",
)


def median_rows(runs: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per scenario id, each number the median over the runs."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for rows in runs:
        for row in rows:
            by_id.setdefault(row["id"], []).append(row)
    merged = []
    for group in by_id.values():
        row = dict(group[0])
        for key in NUMERIC_KEYS:
            values = [r[key] for r in group if key in r]
            if values:
                row[key] = statistics.median(values)
        row["runs"] = len(group)
        merged.append(row)
    return merged


def find(rows: Sequence[dict[str, Any]], row_id: str) -> dict[str, Any] | None:
    """The row with this id, if measured."""
    return next((row for row in rows if row["id"] == row_id), None)


def _get(rows: Sequence[dict[str, Any]], row_id: str, key: str) -> float | None:
    row = find(rows, row_id)
    value = row.get(key) if row else None
    return float(value) if value is not None else None


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """vs_reference (same shape on the empty-handler server) and vs_stdlib (in process)."""
    stdlib = find(rows, "inproc/stdlib json")
    for row in rows:
        if row["server"] != "service":
            continue
        if row["kind"] == "unary":
            ref = find(rows, "reference/w1/unary")
        elif row["kind"] == "stream":
            ref = find(rows, f"reference/w1/stream/{row['batch']}")
        else:
            ref = None
        if ref:
            row["vs_reference"] = row["items_per_s"] / ref["items_per_s"]
        if stdlib and row["kind"] == "stream":
            row["vs_stdlib"] = row["items_per_s"] / stdlib["items_per_s"]


_OPEN = "service/w1/open/bare"
_REF_OPEN = "reference/w1/open"
_P99_CONTEXT = (
    ("  meanwhile, the machine's own hiccup p99 (ms)", _OPEN, "hiccup_p99_ms"),
    ("  meanwhile, CPU time stolen by the hypervisor (%)", _OPEN, "steal_pct"),
    ("  meanwhile, time both CPUs ran >= 3x slower (%)", _OPEN, "slow_cpu_pct"),
    ("  the longest such slow span (ms)", _OPEN, "slow_cpu_longest_ms"),
    ("  p99 of the calls that overlapped no slow span (ms)", _OPEN, "clean_p99_ms"),
    ("  those calls' share of all calls (%)", _OPEN, "clean_calls_pct"),
    ("  the empty-handler server's p99 at half its saturation (ms)", _REF_OPEN, "p99_ms"),
    ("  the empty-handler server's p99 outside slow spans (ms)", _REF_OPEN, "clean_p99_ms"),
)
"""(name, row id, key) of the [info] rows under the p99 target: what the machine did meanwhile."""
_H2LOAD_P99_CONTEXT = (
    ("  h2load: service p99 at half its h2load saturation (ms)", "service/w1"),
    ("  h2load: empty handler's p99 at half its h2load saturation (ms)", "reference/w1"),
)
"""(name, server) of the p99 [info] rows from h2load's open loop (bench/probes/h2load.py)."""


def _paired(pairs: Sequence[dict[str, Any]], prefix: str) -> float | None:
    """The best median ratio among the paired scenarios named `prefix`*."""
    ratios = [p["ratio"] for p in pairs if p["name"].startswith(prefix)]
    return max(ratios) if ratios else None


def targets(
    rows: Sequence[dict[str, Any]],
    memory: dict[str, Any],
    startup: dict[str, Any],
    pairs: Sequence[dict[str, Any]] = (),
    cross: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The issue's five targets, each measured value against its threshold.

    The two throughput ratios come from the paired slices when measured
    (`pairs`), else from the scenario rows. Rows with `met` None are context
    for the row above them (what the machine did meanwhile, or what the C
    load generator `cross`, bench/probes/h2load.py, measured), not targets.
    """
    out: list[dict[str, Any]] = []

    def add(
        name: str, value: float | None, limit: float, higher_is_better: bool, unit: str
    ) -> None:
        met = value is not None and (value >= limit if higher_is_better else value <= limit)
        sign = ">=" if higher_is_better else "<="
        out.append({"target": name, "value": value, "limit": f"{sign} {limit:g}{unit}", "met": met})

    def context(name: str, value: float | None) -> None:
        """A number that explains a verdict, not a target itself (met is None)."""
        out.append({"target": name, "value": value, "limit": "", "met": None})

    def ratio(
        name: str, kind: str, paired: float | None, rows_value: float | None, limit: float
    ) -> None:
        """A throughput target: paired slices when measured, else the scenario rows."""
        add(name, paired if paired is not None else rows_value, limit, True, "x")
        if paired is not None:
            context(f"  the {kind} ratio from the scenario rows (minutes apart)", rows_value)

    best_stream = max(
        (r.get("vs_stdlib", 0.0) for r in rows if r["kind"] == "stream" and r.get("batch") == 1000),
        default=None,
    )
    ratio(
        "unary Classify (bare) / empty handler",
        "unary",
        _paired(pairs, "paired/unary"),
        _get(rows, "service/w1/unary/bare", "vs_reference"),
        0.9,
    )
    if cross is not None:
        context("  the unary ratio with h2load as the client", cross["unary_ratio"])
    ratio(
        "ClassifyStream 1000 / stdlib json (best workers)",
        "stream",
        _paired(pairs, "paired/stream"),
        best_stream,
        1.0,
    )
    add(
        "unary p99 at half saturation (ms)",
        _get(rows, _OPEN, "p99_ms"),
        2.0,
        False,
        " ms",
    )
    add(
        "  the same, timed from the actual send (ms)",
        _get(rows, _OPEN, "service_p99_ms"),
        2.0,
        False,
        " ms",
    )
    for name, row_id, key in _P99_CONTEXT:
        context(name, _get(rows, row_id, key))
    open_rows: list[dict[str, Any]] = cross["open"] if cross is not None else []
    for name, server in _H2LOAD_P99_CONTEXT if open_rows else ():
        row: dict[str, Any] = next((r for r in open_rows if r["server"] == server), {})
        context(name, row.get("p99_ms"))
    add("RSS after streamed items (MiB)", memory.get("end_mib"), 100, False, " MiB")
    add("RSS growth over the run (MiB)", memory.get("growth_mib"), 5, False, " MiB")
    add("start-up to SERVING (s)", startup.get("median_s"), 1.0, False, " s")
    return out


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The results as a fixed-width text table."""
    header = (
        f"{'scenario':<34}{'items/s':>12}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99 snd':>9}"
        f"{'srv cpu%':>9}{'srv us/it':>10}{'vs ref':>8}{'vs json':>8}{'steal%':>7}{'slow%':>7}"
        f"{'p99 cln':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['id']:<34}{_fmt(row['items_per_s']):>12}{_fmt(row.get('calls_per_s')):>10}"
            f"{_fmt(row.get('p50_ms'), 3):>9}{_fmt(row.get('p99_ms'), 3):>9}"
            f"{_fmt(row.get('service_p99_ms'), 3):>9}"
            f"{_fmt(row.get('server_cpu_pct')):>9}{_fmt(row.get('server_us_per_item'), 1):>10}"
            f"{_fmt(row.get('vs_reference'), 2):>8}{_fmt(row.get('vs_stdlib'), 2):>8}"
            f"{_fmt(row.get('steal_pct'), 1):>7}{_fmt(row.get('slow_cpu_pct'), 1):>7}"
            f"{_fmt(row.get('clean_p99_ms'), 3):>9}"
        )
    return "\n".join(lines)


def paired_table(pairs: Sequence[dict[str, Any]]) -> str:
    """The paired ratios: each leg's median items/s and the per-pair ratio spread."""
    header = f"{'paired (alternating slices)':<28}{'A items/s':>12}{'B items/s':>12}"
    header += f"{'A/B median':>12}{'min':>7}{'max':>7}  legs"
    lines = [header, "-" * (len(header) + 40)]
    for p in pairs:
        lines.append(
            f"{p['name']:<28}{_fmt(p['a_items_per_s']):>12}{_fmt(p['b_items_per_s']):>12}"
            f"{_fmt(p['ratio'], 3):>12}{_fmt(p['ratio_min'], 2):>7}{_fmt(p['ratio_max'], 2):>7}"
            f"  {p['legs'][0]} / {p['legs'][1]}, {p['pairs']} pairs of {p['slice']:g} s"
        )
    return "\n".join(lines)


def verdicts(checks: Sequence[dict[str, Any]]) -> str:
    """The targets as text lines."""
    lines = []
    for check in checks:
        value = check["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        if check["met"] is None:
            lines.append(f"  [info] {check['target']:<46} {shown:>10}")
            continue
        mark = "MET " if check["met"] else "MISS"
        lines.append(f"  [{mark}] {check['target']:<46} {shown:>10}  (target {check['limit']})")
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """The whole result set, for later comparison."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def chart(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Throughput against batch size, with the reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row["kind"] == "stream":
            label = f"{row['server']} ClassifyStream, {row['workers']} worker(s)"
            series.setdefault(label, []).append((row["batch"], row["items_per_s"]))
    styles = {"reference": "--", "service": "-"}
    for label, points in sorted(series.items()):
        points.sort()
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            styles[label.split()[0]],
            marker="o",
            label=label.replace("reference", "empty-handler server"),
        )
    flat = [
        ("inproc/stdlib json", "in-process stdlib json + dict", "tab:red"),
        ("inproc/orjson", "in-process orjson + dict", "tab:pink"),
        ("inproc/service classifier", "in-process service classifier", "tab:brown"),
        ("reference/w1/unary", "empty-handler unary req/s", "tab:gray"),
        ("service/w1/unary/bare", "unary Classify (bare) req/s, 1 worker", "tab:olive"),
    ]
    for row_id, label, colour in flat:
        value = _get(rows, row_id, "items_per_s")
        if value:
            ax.axhline(value, linestyle=":", color=colour, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("items per ClassifyStream request (batch size)")
    ax.set_ylabel("items classified per second")
    ax.set_title("WhatsApp delivery-error service: throughput on loopback")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
