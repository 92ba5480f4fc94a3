"""bench/issue's arithmetic: one run's JSON line, a progress line, the table.

  issue.py record LABEL LOAD_JSON CLK_TCK FIRST T0 T1 C0 C1 W0 W1
  issue.py line JSON_LINE
  issue.py table RUNS_JSONL

FIRST is the wall time (s) the first scan was seen, T0 / T1 the issue's
start and end; the tool's per-second series counts from its first due time,
so second k of the series is taken as [FIRST + k, FIRST + k + 1) (the first
scan is seen within ~0.1 s of it).
"""
import json
import math
import statistics

from summarize import pair_main


def record(label, load_json, clk_tck, first, t0, t1, c0, c1, w0, w1):
    """One run as a JSON object."""
    with open(load_json) as f:
        load = json.load(f)
    first, t0, t1 = float(first), float(t0), float(t1)
    lo, hi = math.floor(t0 - first), math.ceil(t1 - first)
    during, quiet = [], []
    for p in load.get("series", []):
        if not p["decided"]:
            continue
        if lo <= p["t"] < hi:
            during.append(p["p99_ms"])
        elif p["t"] >= 2:
            quiet.append(p["p99_ms"])
    tick = int(clk_tck)
    return {
        "label": label,
        "offered_per_s": load.get("offered_per_s"),
        "scans_per_s": load.get("scans_per_s"),
        "p99_ms": load.get("p99_ms"),
        "max_ms": load.get("max_ms"),
        "verdict": load.get("verdict"),
        "issue_s": t1 - t0,
        "store_cpu_s": (int(w1) - int(w0)) / tick,
        "gateway_cpu_s": (int(c1) - int(c0)) / tick,
        "issue_p99_ms": max(during) if during else None,
        "quiet_p99_ms": statistics.median(quiet) if quiet else None,
    }


def line(r):
    """One run, one line of text."""
    return (
        f"issue {r['issue_s']:.2f} s, store CPU {r['store_cpu_s']:.2f} s, gateway CPU {r['gateway_cpu_s']:.2f} s; "
        f"scans p99 {r['issue_p99_ms']} ms in the issue's seconds, {r['quiet_p99_ms']} ms in the others; "
        f"run p99 {r['p99_ms']} ms, max {r['max_ms']} ms, {r['verdict']}"
    )


COLUMNS = [
    ("issue s", "issue_s", "{:.2f}"),
    ("store threads' CPU s during it", "store_cpu_s", "{:.2f}"),
    ("gateway CPU s during it", "gateway_cpu_s", "{:.2f}"),
    ("scan p99 ms, worst second of the issue", "issue_p99_ms", "{:.1f}"),
    ("scan p99 ms, median other second", "quiet_p99_ms", "{:.1f}"),
    ("scan p99 ms, whole run", "p99_ms", "{:.1f}"),
    ("scan max ms, whole run", "max_ms", "{:.1f}"),
]


if __name__ == "__main__":
    pair_main(record, line, COLUMNS)
