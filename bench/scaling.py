"""Reads bench/scaling's scaling.jsonl and prints the scaling table.

One row per gateway core count: the durable ceiling (the most durable first
scans answered per second when offered more), a kept-up run at a share of it
(p50 / p99, the checker's verdict), and forged-token rejections per second;
the x columns are each figure over the one-core row's. With REPEAT=N each
cell is its configuration's median run (summarize.median_run).
"""
import sys

from summarize import kept_up, median_run, read_runs


def main(path):
    runs = read_runs(path)
    machine = next((r for r in runs if r.get("bench") == "scaling-machine"), {})
    groups = {}
    for r in runs:
        if r.get("bench") == "scaling":
            groups.setdefault(r["cores"], {}).setdefault(r["run"], []).append(r)
    by_cores = {c: {kind: median_run(g) for kind, g in kinds.items()} for c, kinds in groups.items()}
    rounds = max((len(g) for kinds in groups.values() for g in kinds.values()), default=0)
    if machine:
        print(f"{machine['cpus']} CPUs ({machine['model']}), kernel {machine['kernel']}, build {machine['commit']}"
              + (f"; each cell the median of {rounds} runs" if rounds > 1 else ""))
        print()
    print("| gateway cores | tool's cpus | durable ceiling /s | x | kept up at /s | p50 ms | p99 ms | checker | forged rejected /s | x |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    base = by_cores.get(min(by_cores), {}) if by_cores else {}

    def ratio(r, kind):
        b = base.get(kind, {}).get("scans_per_s")
        return f"{r['scans_per_s'] / b:.2f}" if b else "-"

    for cores in sorted(by_cores):
        row = by_cores[cores]
        ceiling, kept, forged = row.get("ceiling"), row.get("kept"), row.get("forged")
        cells = [str(cores), (ceiling or kept or forged or {}).get("loader_cpus", "?")]
        cells += [f"{ceiling['scans_per_s']:,.0f}", ratio(ceiling, "ceiling")] if ceiling else ["-", "-"]
        if kept:
            label = f"{kept['scans_per_s']:,.0f}" + ("" if kept_up(kept) else " (did not keep up)")
            cells += [label, f"{kept['p50_ms']:.2f}", f"{kept['p99_ms']:.2f}", kept.get("verdict", "?")]
        else:
            cells += ["-", "-", "-", "-"]
        cells += [f"{forged['scans_per_s']:,.0f}", ratio(forged, "forged")] if forged else ["-", "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
