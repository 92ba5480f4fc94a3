"""bench/flood's figures: reads the per-phase files bench/flood left in its
scratch dir and prints a human summary on stderr and one JSON object on
stdout. Run by bench/flood, never by hand.

usage: flood.py TMP CAP_BYTES CAP_SAID LEGIT_P99_MS PHASE_S FORGED_RATE
                PASSES BURST_RATE IDLE_CONNS SLOW_CONNS LEGIT_RATE
                CONNECT_ATTEMPTS PHASES LEGIT_SOURCE
"""

import json
import os
import re
import sys

PHASES = ("forged", "burst", "http", "connect")
# Refusal counters read from /metrics (deltas over a phase, every label set
# summed, and the scans_total ones split by reason).
COUNTERS = (
    "scangate_busy_total",
    "scangate_scan_errors_total",
    "scangate_connections_refused_total",
    "scangate_http_connections_refused_total",
    "scangate_http_timeouts_total",
    "scangate_bad_frames_total",
)
REASONS = ("forged", "busy", "rate_limited")
SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')


def metrics(path):
    """{(name, labels): value} of a /metrics text (empty if unreadable)."""
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = SAMPLE.match(line.strip())
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def delta(before, after, name, label=None):
    """Growth of metric NAME over the phase, every series with LABEL summed."""
    total = 0.0
    for (n, labels), v in after.items():
        if n == name and (label is None or label in labels):
            total += v - before.get((n, labels), 0.0)
    return int(total)


def last_json(path):
    """The last line of a tool's output read as JSON, or {"error": that line}
    (its first 300 characters) when it is not JSON."""
    try:
        lines = [l for l in open(path) if l.strip()]
    except OSError as e:
        return {"error": str(e)}
    if not lines:
        return {"error": "no output"}
    try:
        return json.loads(lines[-1])
    except ValueError:
        return {"error": lines[-1].strip()[:300]}


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def phase(tmp, name, cap, p99_bound):
    d = os.path.join(tmp, name)
    if not os.path.exists(os.path.join(d, "alive")):
        return {"ran": False, "held": False}
    rss = [int(x) for x in read(d, "rss").split() if x.isdigit()]
    peak_rss = max(rss, default=0) * 1024
    hwm = int(read(d, "hwm") or 0) * 1024
    polls = read(d, "readyz").split()
    readyz_failed = sum(1 for c in polls if c != "200")
    before, after = metrics(d + "/metrics.before"), metrics(d + "/metrics.after")
    refused = {c.removeprefix("scangate_"): delta(before, after, c) for c in COUNTERS}
    for r in REASONS:
        refused["scans_" + r] = delta(before, after, "scangate_scans_total", f'reason="{r}"')
    refused["scans_granted"] = delta(before, after, "scangate_scans_total", 'decision="granted"')
    runs = sorted(
        (f for f in os.listdir(d) if re.fullmatch(r"legit\.\d+", f)), key=lambda f: int(f[6:])
    )
    legit_runs = [last_json(os.path.join(d, f)) for f in runs]
    flood = last_json(d + "/flood.out")
    p99s = [l.get("p99_ms") for l in legit_runs]
    # The highest run p99 bounds the p99 of every scan of the phase from above.
    legit_p99 = None if not p99s or None in p99s else max(p99s)
    worst_second = max(
        (p.get("p99_ms", 0) for l in legit_runs for p in l.get("series", [])), default=None
    )
    counts = {"granted": 0, "denied": {}, "errors": {}}
    for l in legit_runs:
        c = l.get("counts", {})
        counts["granted"] += c.get("granted", 0)
        for k in ("denied", "errors"):
            for reason, n in c.get(k, {}).items():
                counts[k][reason] = counts[k].get(reason, 0) + n
    verdicts = [l.get("verdict") or l.get("error") for l in legit_runs]
    alive = read(d, "alive") == "1"
    r = {
        "flood_s": float(read(d, "flood_s")),
        "peak_rss_sampled_bytes": peak_rss,
        "hwm_bytes": hwm,
        # Peak address space (what `prlimit --as` caps; far above RSS).
        "vm_peak_bytes": int(read(d, "vmpeak") or 0) * 1024,
        "alive": alive,
        "under_cap": alive and max(hwm, peak_rss) <= cap,
        "readyz_polls": len(polls),
        "readyz_failed": readyz_failed,
        "refused": refused,
        "legit_p99_ms": legit_p99,
        "legit_worst_second_p99_ms": worst_second,
        "legit_runs": len(legit_runs),
        "legit_run_p99_ms": p99s,
        "legit_scans": sum(l.get("scans", 0) for l in legit_runs),
        "legit_counts": counts,
        "legit_verdict": "pass" if verdicts and all(v == "pass" for v in verdicts) else verdicts,
        "flood": {k: flood.get(k) for k in ("scans", "offered_per_s", "scans_per_s", "p99_ms", "counts")}
        if "scans" in flood else flood,
    }
    # The connection flood: every attempt made, none with another CA's
    # certificate completed.
    connect_ok = name != "connect" or (
        flood.get("attempts", 0) > 0 and flood.get("foreign_completed") == 0
    )
    r["held"] = (
        connect_ok
        and r["under_cap"]
        and readyz_failed == 0
        and len(polls) > 0
        and legit_p99 is not None
        and legit_p99 <= p99_bound
        and r["legit_verdict"] == "pass"
    )
    return r


def main():
    tmp, cap, cap_said, p99_bound = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    scale = dict(zip(
        ("phase_s", "forged_rate", "passes", "burst_rate", "idle_conns", "slow_conns", "legit_rate",
         "connect_attempts"),
        (int(x) for x in sys.argv[5:13]),
    ))
    chosen = sys.argv[13].split()
    # The legitimate scanner's source address ("": the system's, 127.0.0.1).
    scale["legit_source"] = sys.argv[14] if len(sys.argv) > 14 and sys.argv[14] else "127.0.0.1"
    scale["cores"] = os.environ.get("CORES_SAID", "unpinned")
    scale["flood_nice"] = int(os.environ.get("FLOOD_NICE", "0"))
    phases = {n: phase(tmp, n, cap, p99_bound) for n in PHASES if n in chosen}
    mib = lambda b: f"{b / 2**20:,.0f} MiB"
    for n, p in phases.items():
        if not p.get("ran", True):
            print(f"[{n}] NOT run (the gateway had died)", file=sys.stderr)
            continue
        print(
            f"[{n}] {'held' if p['held'] else 'NOT held'}: peak RSS {mib(p['peak_rss_sampled_bytes'])} "
            f"(VmHWM {mib(p['hwm_bytes'])}, VmPeak {mib(p['vm_peak_bytes'])}, cap {mib(cap)}), readyz {p['readyz_failed']} failed of "
            f"{p['readyz_polls']}, legit p99 {p['legit_p99_ms']} ms (worst second "
            f"{p['legit_worst_second_p99_ms']} ms, verdict {p['legit_verdict']}), refused {p['refused']}",
            file=sys.stderr,
        )
    r = {
        "bench": "flood", "cap_bytes": cap, "cap": cap_said, "legit_p99_bound_ms": p99_bound,
        "scale": scale, "phases": phases, "held": all(p["held"] for p in phases.values()),
    }
    tail = os.path.join(tmp, "gateway.tail")
    if os.path.exists(tail):
        r["gateway_died_log_tail"] = open(tail).read()[-1000:]
    print(json.dumps(r))


main()
