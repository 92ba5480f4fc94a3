"""bench/cpu's arithmetic: one run's JSON line, a progress line, the table.

  cpu.py record LABEL LOAD_JSON METRICS CLK_TCK C0 C1 S0 S1 W0 W1 D0 D1
  cpu.py line JSON_LINE
  cpu.py table RUNS_JSONL

The table gives each variant's medians over its runs and, with two
variants, the median and range of the per-pair ratios B / A (run k of A is
paired with run k of B, the two run back to back): on a host whose CPU time
moves by 10-20 % between runs, a difference counts only when the whole range
of ratios lies on one side of 1.
"""
import json
import os
import re

from summarize import pair_main


def scan_seconds_quantile(metrics_text, q):
    """The upper bound (ms) of the scangate_scan_seconds bucket holding quantile q."""
    buckets = []
    for m in re.finditer(r'^scangate_scan_seconds_bucket\{le="([^"]+)"\} (\d+)', metrics_text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets.append((le, int(m.group(2))))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for le, count in buckets:
        if count >= q * total:
            return le * 1000
    return None


def metric_total(metrics_text, name):
    """The sum of metric NAME's samples, whatever their labels."""
    pattern = r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.e+]+)$"
    return sum(float(m.group(1)) for m in re.finditer(pattern, metrics_text, re.M))


def record(label, load_json, metrics, clk_tck, c0, c1, s0, s1, w0, w1, d0, d1):
    """One run as a JSON object: the tool's summary and the window's figures."""
    with open(load_json) as f:
        load = json.load(f)
    with open(metrics) as f:
        metrics_text = f.read()
    scans = int(s1) - int(s0)
    per = max(scans, 1)
    cpu_s = (int(c1) - int(c0)) / int(clk_tck)
    return {
        "label": label,
        "cores": os.environ.get("CORES", "unpinned"),
        "offered_per_s": load.get("offered_per_s"),
        "scans_per_s": load.get("scans_per_s"),
        "p50_ms": load.get("p50_ms"),
        "p99_ms": load.get("p99_ms"),
        "verdict": load.get("verdict"),
        "gateway_scan_p99_ms": scan_seconds_quantile(metrics_text, 0.99),
        "window_scans": scans,
        "window_cpu_s": cpu_s,
        "cpu_us_per_scan": 1e6 * cpu_s / per,
        "switches_per_scan": (int(w1) - int(w0)) / per,
        "datagrams_per_scan": (int(d1) - int(d0)) / per,
        # Over the whole run (the issue of its passes too): how many scans
        # one fdatasync of the redo log carried.
        "scans_per_sync": metric_total(metrics_text, "scangate_scans_total")
        / max(metric_total(metrics_text, "scangate_store_commits_total"), 1),
    }


def line(r):
    """One run, one line of text."""
    return (
        f"{r['scans_per_s']:.0f}/s of {r['offered_per_s']:.0f}, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
        f"{r['verdict']}; {r['cpu_us_per_scan']:.1f} us CPU, {r['switches_per_scan']:.2f} switches, "
        f"{r['datagrams_per_scan']:.2f} datagrams per scan"
    )


COLUMNS = [
    ("gateway CPU µs / scan", "cpu_us_per_scan", "{:.1f}"),
    ("switches / scan", "switches_per_scan", "{:.2f}"),
    ("datagrams / scan", "datagrams_per_scan", "{:.2f}"),
    ("scans / redo sync (run)", "scans_per_sync", "{:.1f}"),
    ("achieved / s", "scans_per_s", "{:.0f}"),
    ("tool p99 ms", "p99_ms", "{:.1f}"),
    ("gateway scan p99 ≤ ms", "gateway_scan_p99_ms", "{:g}"),
]


if __name__ == "__main__":
    pair_main(record, line, COLUMNS)
