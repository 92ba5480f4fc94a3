# bench/lib.sh: what bench/compare, bench/cpu, bench/issue, bench/memory and
# bench/scaling share.
# Sourced, never run. The caller sets `root` (the repository) and `tmp` (a
# scratch dir on a real disk) first.
#
#   BIN=DIR       use the scangate and scangate-load binaries in DIR (built
#                 elsewhere, e.g. carried to the device machine) instead of
#                 building target/release
#   SKIP_BUILD=1  use target/release as it is

log() { printf '%s\n' "$*" >&2; }

# Sets `sg` and `load` to the binaries, building them unless told not to.
locate_binaries() {
  if [ -n "${BIN:-}" ]; then
    sg=$BIN/scangate
    load=$BIN/scangate-load
  else
    if [ -z "${SKIP_BUILD:-}" ]; then
      log "building (release)"
      cargo build -q --release -p scangate -p scangate-load
    fi
    sg=$root/target/release/scangate
    load=$root/target/release/scangate-load
  fi
  for b in "$sg" "$load"; do
    [ -x "$b" ] || { log "no executable $b"; exit 2; }
  done
}

# Sets `gw_prefix` and `load_prefix` (commands to start the gateway and the
# load under), `cores` (pinned or unpinned, for the JSON lines) and
# `cores_said` (for people). PIN=1: the gateway under `taskset -c $GW_CPUS`,
# the load under `taskset -c $LOAD_CPUS`; both must name CPUs this process
# may run on, or it stops here rather than measure something else.
pin_cores() {
  gw_prefix=() load_prefix=()
  if [ -z "${PIN:-}" ]; then
    cores=unpinned
    cores_said="unpinned (gateway and load share every core)"
    return 0
  fi
  command -v taskset > /dev/null || { log "PIN=1 needs taskset (util-linux)"; exit 2; }
  local c
  for c in "$GW_CPUS" "$LOAD_CPUS"; do
    taskset -c "$c" true 2> /dev/null || { log "PIN=1: cannot run on CPU(s) $c here"; exit 2; }
  done
  gw_prefix=(taskset -c "$GW_CPUS")
  load_prefix=(taskset -c "$LOAD_CPUS")
  cores=pinned
  cores_said="pinned (gateway: taskset -c $GW_CPUS, load: taskset -c $LOAD_CPUS)"
}

# Refuses a scratch dir in memory: the durable figures need a real disk.
require_real_disk() {
  case $(stat -f -c %T "$1") in
    tmpfs|ramfs) log "$1 is on tmpfs; set TMPDIR to a real disk"; exit 2 ;;
  esac
}

# start_gateway DATA [PREFIX...] [-- SERVE_ARGS...]: starts `scangate serve` on
# loopback with the per-device and per-admin-token rate limits out of the way
# (the load tool's read-back is one admin call or two per touched pass, and a
# benchmark measures scans, not the admin API's limit), under the PREFIX
# command if one is given (e.g. `taskset -c 0-3`), and waits until it is
# ready. Sets `gw_pid`, `data` and `http`; the log is DATA.log.
start_gateway() {
  data=$1; shift
  local prefix=() extra=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do prefix+=("$1"); shift; done
  [ $# -gt 0 ] && shift && extra=("$@")
  "${prefix[@]}" "$sg" serve --data-dir "$data" --quic 127.0.0.1:0 --http 127.0.0.1:0 \
    --device-rate 10000000 --device-burst 10000000 \
    --admin-rate 10000000 --admin-burst 10000000 "${extra[@]}" > "$data.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 1 600); do
    if grep -q "scangate ready" "$data.log" 2>/dev/null; then
      http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$data/gateway.json")
      return 0
    fi
    kill -0 "$gw_pid" 2>/dev/null || { cat "$data.log" >&2; return 1; }
    sleep 0.1
  done
  log "gateway did not become ready"; return 1
}

# metric_sum NAME: the sum of metric NAME's samples, whatever their labels,
# on the running gateway's /metrics (0 if it has none).
metric_sum() {
  curl -sf "http://$http/metrics" | awk -v m="$1" '$1 ~ "^"m"([{]|$)" {s += $NF} END {printf "%d", s}'
}

# gateway_cpu_ticks: the running gateway's user+system CPU so far, in clock
# ticks (/proc/PID/stat; getconf CLK_TCK per second), all its threads.
gateway_cpu_ticks() { awk '{print $14 + $15}' "/proc/$gw_pid/stat"; }

# await_first_scan PID: waits until the running gateway has decided a scan
# (the tool PID issues its passes first), or PID has ended.
await_first_scan() {
  for _ in $(seq 1200); do
    [ "$(metric_sum scangate_scans_total)" -gt 0 ] && return 0
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
}

# Stops the gateway (SIGTERM: drain, exit 0) and deletes its data dir.
stop_gateway() {
  kill -TERM "$gw_pid"; wait "$gw_pid" || true; gw_pid=""
  rm -rf "$data" "$data.log"
}

# Stops a gateway left running and removes the scratch dir; for `trap`.
cleanup_gateway() {
  [ -n "${gw_pid:-}" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
