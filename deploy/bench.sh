#!/usr/bin/env bash
# bench.sh: callraft and etcd 3.4 side by side on this machine, 3 nodes each on loopback.
#
#   deploy/bench.sh                 # ~4 min: builds if needed, prints the table, writes results.json
#   DUR=3 CONC="1 16" SYNC_MODES=false deploy/bench.sh   # ~1 min smoke run
#
# What it measures, in this order, all bounded in time:
#   1. the physical floor: write + fdatasync latency of a 4 KiB block on the data disk
#      (deploy/bench/floor_fsync.c) and the loopback TCP round trip (deploy/bench/floor_rtt.c),
#      before and again after the systems ran;
#   2. callraft, a fresh 1+1+1 cluster (deploy/cluster.sh) per [state] sync mode in $SYNC_MODES:
#      `callraft bench --workload $WORKLOAD` at each concurrency in $CONC, leader first, with the
#      nodes' CPU time and peak RSS;
#   3. etcd, a fresh 3-member cluster with the same layout and its data on the same disk (fsync on,
#      etcd's defaults): wrk puts of new keys with 256-byte values through the v3 JSON gateway on
#      the leader (deploy/bench/etcd_put.lua) at the same concurrencies, one request outstanding
#      per connection, as callraft's clients;
#   4. the table (deploy/bench/report.py): throughput and latency of both, ratios, the floor and
#      the targets of issue #5, and results.json with every figure.
# etcd comes from Debian (etcd-server, etcd-client, wrk): installed here when run as root, else
# skipped with a message. ETCD=skip skips it.
#
# Environment (defaults): CALLRAFT_BUILD (./build; built with cmake if callraftd is missing),
#   BENCH_OUT (/tmp/callraft-bench/<time>: results and logs), BENCH_DATA ($BENCH_OUT/data: both
#   systems' data, wiped at exit), DUR (10 s per level), CONC ("1 16 64"), WORKLOAD (enqueue),
#   SYNC_MODES ("false true"), ETCD (auto|skip), CALLRAFT_PORT_BASE (15400),
#   ETCD_PORT_BASE (24700: clients BASE+91..93, peers BASE+101..103),
#   QUIET_PCT (20) QUIET_WAIT (60): wait at most QUIET_WAIT s for the machine to be < QUIET_PCT %
#   busy before each system, since other jobs may share it (recorded in results.json).
# TLS: each callraft cluster runs mutual TLS (deploy/cluster.sh makes its certificates) and the
#   bench presents that cluster's admin certificate (CALLRAFT_TLS_CA/CERT/KEY); CALLRAFT_INSECURE=1
#   runs plain TCP instead.
# Everything this script starts it stops at exit, by the PIDs it started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${CALLRAFT_BUILD:-$here/build}
out=${BENCH_OUT:-/tmp/callraft-bench/$(date +%Y%m%d-%H%M%S)}
data=${BENCH_DATA:-$out/data}
dur=${DUR:-10}
conc=${CONC:-"1 16 64"}
workload=${WORKLOAD:-enqueue}
sync_modes=${SYNC_MODES:-"false true"}
etcd_mode=${ETCD:-auto}
cr_base=${CALLRAFT_PORT_BASE:-15400}
etcd_base=${ETCD_PORT_BASE:-24700}
quiet_pct=${QUIET_PCT:-20}
quiet_wait=${QUIET_WAIT:-60}

log() { echo "[bench $(date +%T)] $*" >&2; }
die() { echo "bench.sh: $*" >&2; exit 2; }

case "$dur" in ''|*[!0-9]*) die "DUR: '$dur': expected whole seconds";; esac
[ "$dur" -ge 1 ] && [ "$dur" -le 600 ] || die "DUR: $dur: expected 1..600 seconds"
for c in $conc; do case "$c" in ''|*[!0-9]*) die "CONC: '$c': expected numbers";; esac; done

mkdir -p "$out" "$data"
declare -a etcd_pids=()
cr_labs=()

cleanup() {
  set +e
  for lab in ${cr_labs[@]+"${cr_labs[@]}"}; do
    CALLRAFT_BUILD=$build CALLRAFT_LAB=$lab "$here/deploy/cluster.sh" down >/dev/null 2>&1
    mkdir -p "$out/logs"; for f in "$lab"/node*/log; do cp "$f" "$out/logs/$(basename "$lab")-$(basename "$(dirname "$f")").log"; done 2>/dev/null
  done
  etcd_stop
  rm -rf "$data"
}
etcd_stop() {
  local p
  for p in ${etcd_pids[@]+"${etcd_pids[@]}"}; do kill -TERM "$p" 2>/dev/null || true; done
  for p in ${etcd_pids[@]+"${etcd_pids[@]}"}; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  etcd_pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

busy_pct() { # % of all CPUs busy (not idle, not iowait) over one second
  local a b
  read -r -a a < /proc/stat; sleep 1; read -r -a b < /proc/stat
  awk -v a="${a[*]:1:8}" -v b="${b[*]:1:8}" 'BEGIN { split(a, x); split(b, y)
    for (i = 1; i <= 8; i++) { d = y[i] - x[i]; t += d; if (i == 4 || i == 5) idle += d }
    printf "%d\n", t ? 100 * (t - idle) / t : 0 }'
}
wait_quiet() { # label: waits (bounded) for a quiet machine and records how busy it was
  local t0=$SECONDS b
  while b=$(busy_pct); [ "$b" -ge "$quiet_pct" ] && [ $((SECONDS - t0)) -lt "$quiet_wait" ]; do
    log "machine ${b}% busy before $1: waiting (at most ${quiet_wait}s)"; sleep 3
  done
  echo "$1 $b" >> "$out/busy.txt"
  [ "$b" -lt "$quiet_pct" ] || log "WARNING: machine ${b}% busy before $1: measuring anyway"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# ---- build and tools ------------------------------------------------------------------------
if [ ! -x "$build/callraftd" ] || [ ! -x "$build/callraft" ]; then
  log "building callraft in $build"
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 >/dev/null
fi
mkdir -p "$out/bin"
gcc -O2 -Wall -Wextra -o "$out/bin/floor_fsync" "$here/deploy/bench/floor_fsync.c"
gcc -O2 -Wall -Wextra -pthread -o "$out/bin/floor_rtt" "$here/deploy/bench/floor_rtt.c"

if [ "$etcd_mode" != skip ] && ! { command -v etcd && command -v wrk; } >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing etcd-server etcd-client wrk (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client wrk >"$out/apt.log" 2>&1 ||
      log "apt-get install failed (see $out/apt.log)"
  fi
  if ! { command -v etcd && command -v wrk; } >/dev/null; then
    log "etcd or wrk is not installed and cannot be installed here (run as root, or:"
    log "  apt-get install -y etcd-server etcd-client wrk): skipping etcd, callraft only"
    etcd_mode=skip
  fi
fi

(
  set +e +o pipefail # informational only: some tools exit non-zero on --version
  echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "cpus: $(nproc)"
  lscpu 2>/dev/null | grep -E 'Model name|Hypervisor' || true
  echo "data: $data ($(df --output=source,fstype "$data" | tail -1 | tr -s ' '))"
  echo "callraft: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?') $(git -C "$here" status --porcelain 2>/dev/null | grep -q . && echo '+local changes')"
  [ "$etcd_mode" = skip ] || { etcd --version | head -1; wrk --version 2>&1 | head -1; }
  echo "loadavg: $(cat /proc/loadavg)"
) > "$out/env.txt" 2>&1

# ---- 1. the floor ---------------------------------------------------------------------------
wait_quiet floor
log "floor: 2000 x (4 KiB write + fdatasync) in $data, 10000 loopback round trips"
{
  "$out/bin/floor_fsync" "$data" 2000 4096
  "$out/bin/floor_rtt" 10000 64
  "$out/bin/floor_rtt" 10000 300
} | tee "$out/floor.txt" >&2

# ---- 2. callraft ----------------------------------------------------------------------------
levels=$(echo $conc | tr ' ' ',')
for i in 1 2 3; do
  port_free $((cr_base + i)) && port_free $((cr_base + 100 + i)) ||
    die "port $((cr_base + i)) or $((cr_base + 100 + i)) in use: set CALLRAFT_PORT_BASE"
done
for mode in $sync_modes; do
  case "$mode" in true|false) ;; *) die "SYNC_MODES: '$mode': expected true and/or false";; esac
  lab=$data/callraft-sync-$mode
  cr_labs+=("$lab")
  export CALLRAFT_BUILD=$build CALLRAFT_LAB=$lab CALLRAFT_PORT_BASE=$cr_base
  # This cluster's own admin certificate (cluster.sh makes it at `up`), not a previous lab's.
  unset CALLRAFT_TLS_CA CALLRAFT_TLS_CERT CALLRAFT_TLS_KEY
  [ "${CALLRAFT_INSECURE:-0}" = 1 ] || export CALLRAFT_TLS_CA=$lab/certs/ca.crt \
    CALLRAFT_TLS_CERT=$lab/certs/admin.crt CALLRAFT_TLS_KEY=$lab/certs/admin.key
  log "callraft [state] sync = $mode: fresh 1+1+1 cluster in $lab"
  "$here/deploy/cluster.sh" up 1+1+1 >/dev/null        # writes the configs and bootstraps
  "$here/deploy/cluster.sh" down >/dev/null
  for f in "$lab"/node*/node.ini; do printf '\n[state]\nsync = %s\n' "$mode" >> "$f"; done
  "$here/deploy/cluster.sh" up 1+1+1 >/dev/null
  pids=$(cat "$lab"/node*/pid | paste -sd,)
  cluster=$("$here/deploy/cluster.sh" addresses)
  timeout 60 "$build/callraft" --cluster "$cluster" bench --workload "$workload" --clients 16 \
    --duration 2 >/dev/null || log "callraft warm-up failed"
  wait_quiet "callraft-sync-$mode"
  log "callraft sync=$mode: $workload at clients $levels, ${dur}s each"
  timeout $(( (dur + 30) * $(echo $conc | wc -w) + 30 )) "$build/callraft" --cluster "$cluster" --json \
    bench --workload "$workload" --clients "$levels" --duration "$dur" --pids "$pids" \
    > "$out/callraft-sync-$mode.json" || log "callraft bench failed (see $out/callraft-sync-$mode.json)"
  "$here/deploy/cluster.sh" down >/dev/null
  rm -rf "$lab"/node*/data
done
unset CALLRAFT_LAB

# ---- 3. etcd --------------------------------------------------------------------------------
etcd_url() { echo "http://127.0.0.1:$((etcd_base + 90 + $1))"; }
etcd_peer() { echo "http://127.0.0.1:$((etcd_base + 100 + $1))"; }
etcd_leader() { # prints the URL of the leader, or nothing
  local i
  for i in 1 2 3; do
    curl -s -m 1 -X POST "$(etcd_url $i)/v3/maintenance/status" -d '{}' 2>/dev/null |
      python3 -c 'import json,sys
s=json.load(sys.stdin); sys.exit(0 if s.get("leader") and s["leader"]==s["header"]["member_id"] else 1)' 2>/dev/null &&
      { etcd_url $i; return 0; }
  done
  return 0
}
proc_ticks() { awk '{ i = index($0, ") "); split(substr($0, i + 2), f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
proc_hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

if [ "$etcd_mode" != skip ]; then
  for i in 1 2 3; do
    port_free $((etcd_base + 90 + i)) && port_free $((etcd_base + 100 + i)) ||
      die "port $((etcd_base + 90 + i)) or $((etcd_base + 100 + i)) in use: set ETCD_PORT_BASE"
  done
  log "etcd: fresh 3-member cluster in $data/etcd"
  mkdir -p "$data/etcd"
  peers="e1=$(etcd_peer 1),e2=$(etcd_peer 2),e3=$(etcd_peer 3)"
  for i in 1 2 3; do
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" etcd --name "e$i" --data-dir "$data/etcd/e$i" \
      --listen-client-urls "$(etcd_url $i)" --advertise-client-urls "$(etcd_url $i)" \
      --listen-peer-urls "$(etcd_peer $i)" --initial-advertise-peer-urls "$(etcd_peer $i)" \
      --initial-cluster "$peers" --initial-cluster-state new --initial-cluster-token callraft-bench \
      >"$out/etcd-e$i.log" 2>&1 &
    etcd_pids+=("$!")
  done
  leader=""
  for _ in $(seq 150); do leader=$(etcd_leader); [ -n "$leader" ] && break; sleep 0.2; done
  [ -n "$leader" ] || die "etcd: no leader after 30 s (see $out/etcd-e*.log)"
  timeout 30 wrk -t2 -c16 -d2s -s "$here/deploy/bench/etcd_put.lua" "$leader" -- warmup >/dev/null ||
    log "etcd warm-up failed"
  wait_quiet etcd
  for c in $conc; do
    t=$(( c < 2 ? 1 : 2 ))
    f=$out/etcd-c$c.txt
    log "etcd: wrk -c$c -d${dur}s puts on the leader $leader"
    { echo "clients: $c"; echo "pids: ${etcd_pids[*]}"
      for p in "${etcd_pids[@]}"; do echo "ticks_before $p $(proc_ticks "$p")"; done; } > "$f"
    TIMEFORMAT='wrk_cpu_s %U %S'
    { time timeout $((dur + 30)) wrk -t$t -c"$c" -d"${dur}s" -s "$here/deploy/bench/etcd_put.lua" \
        "$leader" -- "bench/c$c" >> "$f"; } 2>> "$f" || log "wrk c=$c failed"
    for p in "${etcd_pids[@]}"; do echo "ticks_after $p $(proc_ticks "$p") hwm_kb $(proc_hwm "$p")"; done >> "$f"
    echo "clk_tck $(getconf CLK_TCK)" >> "$f"
  done
  etcd_stop
fi

# The floor again: other jobs on a shared machine can slow the disk for minutes; the report uses
# the quieter of the two measurements (a floor is a lower bound) and shows both.
wait_quiet floor-again
{
  "$out/bin/floor_fsync" "$data" 2000 4096
  "$out/bin/floor_rtt" 10000 64
  "$out/bin/floor_rtt" 10000 300
} | sed 's/^/again /' | tee -a "$out/floor.txt" >&2

# ---- 4. the table ---------------------------------------------------------------------------
python3 "$here/deploy/bench/report.py" "$out" | tee "$out/table.txt"
log "results: $out/results.json, table: $out/table.txt"
