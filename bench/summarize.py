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
import statistics
import sys


def read_runs(path):
    """The JSON lines of a runs file (other lines, e.g. logs, skipped)."""
    return [json.loads(line) for line in open(path) if line.strip().startswith("{")]


def pair_table(runs, columns):
    """Prints the markdown table of runs labelled A (and B), one row per
    (title, key, format) of `columns`: each variant's median over its runs
    with every run's figure and, with two variants, the median and range of
    the per-pair ratios B / A (run k of A paired with run k of B, the two run
    back to back): on a host whose figures move by 10-20 % between runs, a
    difference counts only when the whole range lies on one side of 1.
    Used by bench/cpu and bench/issue."""
    labels = sorted({r["label"] for r in runs})
    by = {label: [r for r in runs if r["label"] == label] for label in labels}
    failed = [r for r in runs if r.get("verdict") not in ("pass", "skipped")]
    head = "| | " + " | ".join(label + (" (runs)" if len(by[label]) > 1 else "") for label in labels)
    if len(labels) == 2:
        head += " | B / A, median of pairs (range)"
    print(head + " |")
    print("| --- " * (len(labels) + 1 + (len(labels) == 2)) + "|")
    for name, key, fmt in columns:
        cells = []
        for label in labels:
            values = [r[key] for r in by[label] if r.get(key) is not None]
            med = fmt.format(statistics.median(values)) if values else "–"
            each = " / ".join(fmt.format(v) for v in values)
            cells.append(f"**{med}** ({each})" if len(values) > 1 else med)
        row = f"| {name} | " + " | ".join(cells)
        if len(labels) == 2:
            pairs = [
                b[key] / a[key]
                for a, b in zip(by["A"], by["B"])
                if a.get(key) and b.get(key) is not None
            ]
            row += (
                f" | {statistics.median(pairs):.2f} ({min(pairs):.2f}–{max(pairs):.2f})" if pairs else " | –"
            )
        print(row + " |")
    if failed:
        print(f"\n{len(failed)} run(s) did not pass the checker: {[r['verdict'] for r in failed]}")


def pair_main(record, line, columns):
    """The command line of bench/cpu.py and bench/issue.py:
    `record ARGS...` prints one run's JSON line (`record(*ARGS)`),
    `line JSON_LINE` its one line of text, `table RUNS_JSONL` the pair table."""
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "record":
        print(json.dumps(record(*args)))
    elif cmd == "line":
        print(line(json.loads(args[0])))
    elif cmd == "table":
        pair_table(read_runs(args[0]), columns)
    else:
        sys.exit(f"unknown command {cmd!r}: record, line or table")


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


def per_core(rows):
    """Durable scans per second of server CPU (1 / CPU per scan), each
    system's best (least CPU per scan) durable run, and scangate's ratio to
    each baseline's: what one server core does when it does nothing else."""
    best = {}
    for _, r in rows:
        s, cpu = r.get("system"), r.get("server_cpu_us_per_scan")
        # No reading, or not a possible one (a CPU reading is positive).
        if not cpu or cpu <= 0 or s not in ("scangate", "postgresql", "redis") or not r.get("durable"):
            continue
        if s == "scangate" and not kept_up(r):
            continue
        if cpu < best.get(s, {}).get("server_cpu_us_per_scan", float("inf")):
            best[s] = r
    sg = best.get("scangate")
    if not sg:
        return
    mine = 1e6 / sg["server_cpu_us_per_scan"]
    for other, name in (("postgresql", "PostgreSQL seed design"), ("redis", "Redis always-fsync")):
        if other in best:
            theirs = 1e6 / best[other]["server_cpu_us_per_scan"]
            print(
                f"- per server core: scangate {mine:,.0f} durable scans per CPU-second "
                f"({sg['server_cpu_us_per_scan']:.1f} µs each) vs {name} {theirs:,.0f} "
                f"({best[other]['server_cpu_us_per_scan']:.1f} µs): **{mine / theirs:.2f}x**"
            )


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

    print("| system | scans/s | p50 ms | p99 ms | server CPU µs per scan |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, r in rows:
        cpu = r.get("server_cpu_us_per_scan")
        cpu = f"{cpu:.1f}" if cpu is not None else "–"
        print(
            f"| {label} | {r.get('scans_per_s', 0):,.0f} | {r.get('p50_ms', 0):.2f} "
            f"| {r.get('p99_ms', 0):.2f} | {cpu} |"
        )
    print()
    per_core(rows)
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
    forged = best.get("scangate-forged")
    if forged:
        print(
            f"- forged tokens: best {forged['scans_per_s']:,.0f} rejections/s "
            f"(offered {forged.get('offered_per_s', 0):,.0f}/s)"
        )


if __name__ == "__main__":
    main(sys.argv[1])
