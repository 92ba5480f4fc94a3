"""Reads bench/compare's runs.jsonl and prints one markdown table with ratios.

With REPEAT=N every configuration (a system at one rate or client count) was
run N times; each row is then the median run of its configuration (by
scans/s, the lower middle one for an even N), with its own p50 and p99.

scangate's figure for a rate counts only if the run kept up: achieved within 2 %
of offered, the checker passed, and no busy answers or timeouts beyond 0.1 %.
Its headline is the best such durable scans/s; each baseline's is its best
durable scans/s across client counts (bench/README of ../shared).
"""
import json
import sys


def read_runs(path):
    """The JSON lines of a runs file (other lines, e.g. logs, skipped)."""
    return [json.loads(line) for line in open(path) if line.strip().startswith("{")]


def kept_up(r):
    """Whether an open-loop scangate-load run kept up with its offered rate."""
    counts = r.get("counts", {})
    denied = counts.get("denied", {})
    trouble = r.get("timeouts", 0) + r.get("errors", 0) + denied.get("busy", 0) + denied.get("rate_limited", 0)
    return (
        r.get("verdict") in ("pass", "skipped")
        and r.get("scans_per_s", 0) >= 0.98 * r.get("offered_per_s", 0)
        and trouble <= 0.001 * max(r.get("scans", 1), 1)
    )


def config_key(r):
    """What makes two runs the same configuration, for the medians."""
    system = r.get("system")
    if system in ("scangate", "scangate-forged"):
        return (system, r.get("offered_per_s"))
    if system in ("postgresql", "redis"):
        return (system, r.get("clients"), r.get("durable"), r.get("fsync"))
    return (system, r.get("in_flight"))


def median_run(group):
    ordered = sorted(group, key=lambda r: r.get("scans_per_s", 0))
    return ordered[(len(ordered) - 1) // 2]


def main(path):
    runs = read_runs(path)
    groups = {}
    for r in runs:
        groups.setdefault(config_key(r), []).append(r)

    rows = []
    for group in groups.values():
        r = median_run(group)
        system = r.get("system")
        if system == "scangate":
            label = f"scangate, offered {r.get('offered_per_s', 0):,.0f}/s" + ("" if kept_up(r) else " (did not keep up)")
        elif system == "scangate-forged":
            label = f"scangate forged-token rejections, offered {r.get('offered_per_s', 0):,.0f}/s"
        elif system == "postgresql":
            label = f"PostgreSQL seed design, {r['clients']} clients" + ("" if r.get("durable") else " (not durable)")
        elif system == "redis":
            label = f"Redis appendfsync {r.get('fsync')}, {r['clients']} clients"
        elif system == "quic-echo":
            label = f"raw QUIC echo ceiling, {r['in_flight']} in flight"
        else:
            continue
        if len(group) > 1:
            label += f" (median of {len(group)})"
        rows.append((label, r))

    best = {}
    for label, r in rows:
        s = r.get("system")
        if s == "scangate" and not kept_up(r):
            continue
        if s in ("postgresql", "redis") and not r.get("durable"):
            continue
        if r.get("scans_per_s", 0) > best.get(s, {}).get("scans_per_s", 0):
            best[s] = r

    print("| system | scans/s | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: |")
    for label, r in rows:
        print(f"| {label} | {r.get('scans_per_s', 0):,.0f} | {r.get('p50_ms', 0):.2f} | {r.get('p99_ms', 0):.2f} |")
    print()
    sg = best.get("scangate")
    if sg:
        for other, name in (("postgresql", "PostgreSQL seed design"), ("redis", "Redis always-fsync"), ("quic-echo", "raw QUIC echo")):
            if other in best:
                o = best[other]
                print(
                    f"- scangate best {sg['scans_per_s']:,.0f}/s (p99 {sg.get('p99_ms', 0):.2f} ms) "
                    f"vs {name} best {o['scans_per_s']:,.0f}/s (p99 {o.get('p99_ms', 0):.2f} ms): "
                    f"**{sg['scans_per_s'] / o['scans_per_s']:.2f}x**"
                )
    else:
        print("- no scangate run kept up with its offered rate")


if __name__ == "__main__":
    main(sys.argv[1])
