"""bench/compare's server CPU: what a baseline's server (PostgreSQL or Redis)
spends per durable scan, read from /proc, and where its processes run.

  server_cpu.py baseline SCRATCH SYSTEM GW_CPUS|"" LOAD_CPUS|"" -- CMD...

runs CMD (`../shared/bench/pg-baseline ...` or `redis-baseline ...`, with
TMPDIR=SCRATCH so its throwaway server lives there) and copies its JSON lines
to stdout, each with three fields added:

  server_cpu_s            the server's user+system CPU over the measured run
  server_cpu_us_per_scan  the same per scan (transactions / requests)
  cores                   "pinned" or "unpinned"

The server's processes are those whose command line names SCRATCH (the
postmaster, which pg_ctl detaches from the script) or that are
`redis-server` under CMD, and every descendant of those. Their CPU is
utime + stime + cutime + cstime summed over the live ones (/proc/PID/stat):
a PostgreSQL backend that exits is reaped by the postmaster, whose cutime
then holds it, so nothing is lost or counted twice. A root that has exited
by the end (a script stops its server right after its last JSON line)
counts its last reading, taken every PIN_INTERVAL_S. The measured run starts
at the script's "measuring" line on stderr and ends at its JSON line; the
few catalogue queries in between (a count of the scan log) are counted too.

With GW_CPUS and LOAD_CPUS (e.g. "0" and "1"), CMD starts on LOAD_CPUS, so
the load tool (pgbench, redis-benchmark) and the script run there, and every
server process and thread is moved to GW_CPUS, checked every
PIN_INTERVAL_S: a PostgreSQL backend forked by a pinned postmaster inherits
its CPUs, so only processes started before a check can run briefly
elsewhere. Unpinned, nothing is moved.
"""
import json
import os
import subprocess
import sys
import threading
import time

# How often the server's processes are looked up (pinned, and their CPU
# read). 0.2 s pins a freshly started server before its passes are loaded
# (which takes seconds) and costs the machine a /proc walk five times a second.
PIN_INTERVAL_S = 0.2
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpus(spec):
    """The CPU set of a `taskset -c` list such as "0" or "0-1,3"."""
    out = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def stat(pid):
    """(ppid, [utime, stime, cutime, cstime]) of a process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), [int(v) for v in fields[11:15]]


def argv(pid):
    """A process's arguments ([] if gone or a kernel thread)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def is_root(pid, scratch, below_script):
    """A server's first process: the postmaster of a data dir in SCRATCH
    (not pg_ctl, psql or runuser, which name it too), or redis-server under
    the script (it renames itself `redis-server 127.0.0.1:PORT`)."""
    args = argv(pid)
    if not args:
        return False
    if os.path.basename(args[0]) == "postgres":
        return any(scratch in a for a in args)
    return pid in below_script and args[0].startswith("redis-server")


def server_pids(scratch, script_pid):
    """The server's processes now: roots named by SCRATCH or redis-server
    below the script, and all their descendants."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = stat(int(name))
            if s:
                procs[int(name)] = s[0]
    children = {}
    for pid, ppid in procs.items():
        children.setdefault(ppid, []).append(pid)
    below_script, todo = set(), [script_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            below_script.add(child)
            todo.append(child)
    roots = [pid for pid in procs if is_root(pid, scratch, below_script)]
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found, set(roots)


def cpu_ticks(pids):
    return sum(sum(s[1]) for s in map(stat, pids) if s)


def root_ticks(roots):
    """The CPU ticks of each server root still running."""
    return {pid: sum(s[1]) for pid, s in ((pid, stat(pid)) for pid in roots) if s}


def pin(pids, cpu_set):
    """Moves every thread of `pids` to `cpu_set` (a gone one is skipped)."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                if os.sched_getaffinity(int(tid)) != cpu_set:
                    os.sched_setaffinity(int(tid), cpu_set)
            except OSError:
                pass


def baseline(scratch, system, gw_cpus, load_cpus, cmd):
    pinned = bool(gw_cpus and load_cpus)
    start = (lambda: os.sched_setaffinity(0, cpus(load_cpus))) if pinned else None
    env = dict(os.environ, TMPDIR=scratch)
    child = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=start
    )
    # "roots": each server root's ticks as last read in the window. A script
    # stops its server right after printing its last JSON line, and nothing
    # tracked reaps a root (pg_ctl detaches the postmaster; the script reaps
    # redis-server), so a root gone by the end counts what it had then, at
    # most PIN_INTERVAL_S of its CPU short, instead of nothing.
    window = {"start": None, "roots": {}}
    done = threading.Event()

    def watch():
        while not done.is_set():
            if pinned:
                pin(server_pids(scratch, child.pid)[0], cpus(gw_cpus))
            if window["start"] is not None:
                # The roots read at the window's start: a run starts none.
                window["roots"].update(root_ticks(list(window["roots"])))
            time.sleep(PIN_INTERVAL_S)

    def read_stderr():
        for line in child.stderr:
            sys.stderr.write(line)
            if "measuring" in line:
                pids, roots = server_pids(scratch, child.pid)
                window["roots"] = root_ticks(roots)
                window["start"] = cpu_ticks(pids)

    threads = [threading.Thread(target=watch, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for t in threads:
        t.start()
    for line in child.stdout:
        if not line.strip().startswith("{"):
            continue
        pids, _ = server_pids(scratch, child.pid)
        gone = sum(t for pid, t in window["roots"].items() if pid not in pids)
        end = cpu_ticks(pids) + gone
        run = json.loads(line)
        scans = run.get("transactions") or run.get("requests") or 0
        if window["start"] is not None and scans:
            cpu_s = (end - window["start"]) / CLK_TCK
            run["server_cpu_s"] = round(cpu_s, 3)
            run["server_cpu_us_per_scan"] = round(1e6 * cpu_s / scans, 2)
        run["cores"] = "pinned" if pinned else "unpinned"
        run.setdefault("system", system)
        window["start"], window["roots"] = None, {}
        print(json.dumps(run), flush=True)
    rc = child.wait()
    done.set()
    threads[1].join()
    return rc


def main():
    args = sys.argv[1:]
    if len(args) < 6 or args[0] != "baseline" or args[5] != "--":
        sys.exit(__doc__)
    _, scratch, system, gw_cpus, load_cpus, _, *cmd = args
    sys.exit(baseline(scratch, system, gw_cpus, load_cpus, cmd))


if __name__ == "__main__":
    main()
