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
    """vs_reference (same shape on the empty-handler server) and vs_pywa (in process)."""
    pywa = find(rows, "inproc/pywa")
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
        if pywa and row["kind"] == "stream":
            row["vs_pywa"] = row["items_per_s"] / pywa["items_per_s"]


def _pair(pairs: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    return next((p for p in pairs if p["name"] == name), {})


def _others(pairs: Sequence[dict[str, Any]], prefix: str) -> list[str]:
    """The labels ("w2", ...) of the pairs named `prefix`<label> other than the default's."""
    found = [p["name"].removeprefix(prefix) for p in pairs if p["name"].startswith(prefix)]
    return [label for label in found if label != "default"]


def targets(
    pairs: Sequence[dict[str, Any]],
    memory: dict[str, Any],
    startup: dict[str, Any],
    default_workers: int,
    rows: Sequence[dict[str, Any]] = (),
    cross: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Issue 20's targets, each measured value against its threshold, with its baseline.

    The ratio targets come from the paired slices (`pairs`, bench/loadgen.py);
    rows with `met` None are context for the target above them (the legs'
    rates, the server's CPU per item, what the machine did meanwhile, what
    the C load generator `cross`, bench/probes/h2load.py, measured), not
    targets.
    """
    out: list[dict[str, Any]] = []

    def add(
        name: str,
        value: float | None,
        limit: float,
        higher_is_better: bool,
        unit: str,
        baseline: str = "",
    ) -> None:
        met = value is not None and (value >= limit if higher_is_better else value <= limit)
        sign = ">=" if higher_is_better else "<="
        out.append(
            {
                "target": name,
                "value": value,
                "limit": f"{sign} {limit:g}{unit}",
                "met": met,
                "baseline": baseline,
            }
        )

    def context(name: str, value: float | None) -> None:
        """A number that explains a verdict, not a target itself (met is None)."""
        out.append({"target": name, "value": value, "limit": "", "met": None, "baseline": ""})

    stream = _pair(pairs, "paired/stream1000/default")
    pywa_rate = stream.get("b_items_per_s")
    pywa = f"pywa in process {pywa_rate:,.0f} webhooks/s" if pywa_rate else ""
    name = f"ClassifyStream 1000 failed, default server (w{default_workers}) / pywa"
    add(name, stream.get("ratio"), 1.0, True, "x", pywa)
    add("  stretch: the same ratio", stream.get("ratio"), 2.0, True, "x", pywa)
    context("  the service's items/s (decoded, checked)", stream.get("a_items_per_s"))
    context("  the server's CPU per item (µs)", stream.get("a_server_us_per_item"))
    for label in _others(pairs, "paired/stream1000/"):
        other = _pair(pairs, f"paired/stream1000/{label}")
        context(f"  the same ratio with --workers {label[1:]}", other["ratio"])
        context(
            f"  the server's CPU per item with --workers {label[1:]} (µs)",
            other.get("a_server_us_per_item"),
        )

    inproc = _pair(pairs, "paired/inproc")
    ratio = inproc.get("ratio")
    classifier_rate = inproc.get("a_items_per_s")
    pywa_in = inproc.get("b_items_per_s")
    add(
        "in process: classifier time per webhook / pywa's",
        1 / ratio if ratio else None,
        1.0,
        False,
        "x",
        f"pywa {1e6 / pywa_in:.2f} µs per webhook" if pywa_in else "",
    )
    context("  the classifier's µs per webhook", 1e6 / classifier_rate if classifier_rate else None)

    unary = _pair(pairs, "paired/unary")
    ref_rate = unary.get("b_items_per_s")
    add(
        "unary Classify (bare) / empty handler calls/s",
        unary.get("ratio"),
        0.95,
        True,
        "x",
        f"empty handler {ref_rate:,.0f} calls/s" if ref_rate else "",
    )
    context(
        "  the unary ratio from the scenario rows (minutes apart)",
        _get(rows, "service/w1/unary/bare", "vs_reference"),
    )
    if cross is not None:
        context("  the unary ratio with h2load as the client", cross["unary_ratio"])
    for label in _others(pairs, "paired/unary/"):
        context(
            f"  the same ratio with --workers {label[1:]}",
            _pair(pairs, f"paired/unary/{label}")["ratio"],
        )

    opened = _pair(pairs, "paired/open")
    ref_p99 = opened.get("b_p99_ms")
    add(
        "unary p99 at half the empty handler's saturation / its p99",
        opened.get("ratio"),
        1.25,
        False,
        "x",
        f"empty handler p99 {ref_p99:.2f} ms at {opened['target_rate']:,.0f}/s" if ref_p99 else "",
    )
    failures = opened.get("a_failed_by") or {}
    add(
        "  calls the service failed meanwhile (no answer, not timed)",
        opened.get("a_failed"),
        0,
        False,
        "",
    )
    if failures:  # what they were: a refused stream says the server fell behind
        out[-1]["note"] = ", ".join(f"{n} {why}" for why, n in sorted(failures.items()))
    context("  ... and the empty handler", opened.get("b_failed"))
    for label, key in (
        ("  the service's p99 (ms)", "a_p99_ms"),
        ("  timed from the actual send: the service's p99 (ms)", "a_p99_sent_ms"),
        ("  ... and the empty handler's (ms)", "b_p99_sent_ms"),
        ("  the median of the per-pair p99 ratios", "pair_ratio_median"),
        ("  outside the machine's slow spans: the service's p99 (ms)", "a_clean_p99_ms"),
        ("  ... and the empty handler's (ms)", "b_clean_p99_ms"),
        ("  meanwhile, time both CPUs ran >= 3x slower (%)", "a_slow_cpu_pct"),
        ("  meanwhile, CPU time stolen by the hypervisor (%)", "a_steal_pct"),
    ):
        context(label, opened.get(key))
    for label in _others(pairs, "paired/open/"):
        context(
            f"  the same ratio with --workers {label[1:]}",
            _pair(pairs, f"paired/open/{label}")["ratio"],
        )
    open_rows: list[dict[str, Any]] = cross["open"] if cross is not None else []
    h2 = {row["server"]: row for row in open_rows}
    if "service/w1" in h2 and "reference/w1" in h2:
        context(
            "  h2load, same offered load: service p99 / empty handler p99",
            h2["service/w1"]["p99_ms"] / h2["reference/w1"]["p99_ms"],
        )

    add("RSS after the streamed items (MiB)", memory.get("end_mib"), 100, False, " MiB")
    add("  RSS growth over the run (flat)", memory.get("growth_mib"), 5, False, " MiB")
    add(
        f"start-up to SERVING ({startup.get('catalog_codes', '?')} catalog codes)",
        startup.get("median_s"),
        1.0,
        False,
        " s",
    )
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
        f"{'scenario':<34}{'items/s':>12}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'srv cpu%':>9}{'srv us/it':>10}{'vs ref':>8}{'vs pywa':>8}{'steal%':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['id']:<34}{_fmt(row['items_per_s']):>12}{_fmt(row.get('calls_per_s')):>10}"
            f"{_fmt(row.get('p50_ms'), 3):>9}{_fmt(row.get('p99_ms'), 3):>9}"
            f"{_fmt(row.get('server_cpu_pct')):>9}{_fmt(row.get('server_us_per_item'), 1):>10}"
            f"{_fmt(row.get('vs_reference'), 2):>8}{_fmt(row.get('vs_pywa'), 2):>8}"
            f"{_fmt(row.get('steal_pct'), 1):>7}"
        )
    return "\n".join(lines)


def paired_table(pairs: Sequence[dict[str, Any]]) -> str:
    """The paired ratios: each leg's median rate and the per-pair ratio spread."""
    header = f"{'paired (alternating slices)':<28}{'A items/s':>12}{'B items/s':>12}"
    header += f"{'A/B median':>12}{'min':>7}{'max':>7}{'A us/it':>9}  legs"
    lines = [header, "-" * (len(header) + 40)]
    for p in pairs:
        if p["kind"] == "paired_open":
            continue
        lines.append(
            f"{p['name']:<28}{_fmt(p['a_items_per_s']):>12}{_fmt(p['b_items_per_s']):>12}"
            f"{_fmt(p['ratio'], 3):>12}{_fmt(p['ratio_min'], 2):>7}{_fmt(p['ratio_max'], 2):>7}"
            f"{_fmt(p.get('a_server_us_per_item'), 1):>9}"
            f"  {p['legs'][0]} / {p['legs'][1]}, {p['pairs']} pairs of {p['slice']:g} s"
        )
    for p in pairs:
        if p["kind"] != "paired_open":
            continue
        lines.append(
            f"\n{p['name']}: both servers in open loop at {p['target_rate']:,.0f} calls/s "
            f"(half the empty handler's closed-loop rate), {p['pairs']} pairs of "
            f"{p['slice']:g} s slices, latency from the scheduled send"
        )
        head = f"  {'server':<30}{'calls':>8}{'calls/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        head += f"{'p99 snd':>9}{'p99 cln':>9}{'cln%':>7}{'slow%':>7}{'us/call':>9}{'failed':>8}"
        lines.append(head)
        for side, leg in zip("ab", p["legs"], strict=True):
            lines.append(
                f"  {leg:<30}{p[side + '_calls']:>8,}{_fmt(p[side + '_calls_per_s']):>9}"
                f"{_fmt(p[side + '_p50_ms'], 3):>9}{_fmt(p[side + '_p99_ms'], 3):>9}"
                f"{_fmt(p[side + '_p99_sent_ms'], 3):>9}{_fmt(p[side + '_clean_p99_ms'], 3):>9}"
                f"{_fmt(p[side + '_clean_calls_pct'], 1):>7}{_fmt(p[side + '_slow_cpu_pct'], 1):>7}"
                f"{_fmt(p[side + '_server_us_per_call']):>9}{p.get(side + '_failed', 0):>8,}"
            )
        lines.append(
            f"  p99 A/B {p['ratio']:.3f} (pooled); per pair median {p['pair_ratio_median']:.3f}, "
            f"{p['ratio_min']:.2f}-{p['ratio_max']:.2f}"
        )
    return "\n".join(lines)


def verdicts(checks: Sequence[dict[str, Any]]) -> str:
    """The targets as text lines: PASS or MISS, the value, the limit and the baseline."""
    lines = []
    for check in checks:
        value = check["value"]
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        if check["met"] is None:
            lines.append(f"  [info] {check['target']:<62} {shown:>10}")
            continue
        mark = "PASS" if check["met"] else "MISS"
        baseline = f"; baseline: {check['baseline']}" if check.get("baseline") else ""
        baseline += f"; {check['note']}" if check.get("note") else ""
        lines.append(
            f"  [{mark}] {check['target']:<62} {shown:>10}  (target {check['limit']}{baseline})"
        )
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
        ("inproc/pywa", "in-process pywa (json + WhatsAppError.from_dict)", "tab:red"),
        ("inproc/stdlib json + dict", "in-process stdlib json + dict", "tab:pink"),
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
    ax.set_xlabel("failed-status webhooks per ClassifyStream request (batch size)")
    ax.set_ylabel("items classified per second")
    ax.set_title("WhatsApp delivery-error service: throughput on loopback")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
