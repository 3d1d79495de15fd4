#!/usr/bin/env bash
# scale.sh: callraft with a large state: N waiting calls and N tickets stored (default 1,000,000
# each), against the same cluster empty.
#
#   deploy/bench/scale.sh                  # N=1000000: about 15-25 min on this 2-core machine
#   N=100000 DUR=5 deploy/bench/scale.sh   # a quick run, ~3 min
#
# Steps, all bounded in time (each command under `timeout`):
#   1. a fresh 1+1+1 cluster on loopback (deploy/cluster.sh), sync = false (the default);
#   2. empty: `callraft bench --workload cycle --queue $Q` at 1 and 16 clients: enqueue, next,
#      answer, end, with latency by operation;
#   3. preload: N enqueues into the one queue $Q (every call stays waiting), then N tickets, by 64
#      clients; all three nodes must reach the same applied index;
#   4. snapshots: `callraft snapshot` on each node in turn (size, copy time off the loop, write
#      time); this also puts the next automatic snapshot far enough away not to overlap step 5;
#   5. loaded: the same cycle bench again. `next` now takes the head of a queue N deep, and every
#      lookup goes through B-trees holding the whole state; then the cycle at 16 clients while the
#      leader takes a snapshot (the loop must not stall); sizes: each node's state (LMDB) and raft
#      directory, RSS and peak RSS;
#   6. join: a new empty node 4 is added and made a voter; timed until its applied index reaches
#      the leader's commit index at the time of the promotion (InstallSnapshot of the whole
#      state, then the log), with its peak RSS;
#   7. the report: report-scale.py prints the table; results.json keeps every figure.
# Everything this script starts it stops at exit (by the PIDs it started) and the data is removed
# unless KEEP=1.
#
# Environment (defaults): N (1000000), DUR (10 s per bench level), CALLRAFT_BUILD (./build),
#   BENCH_OUT (/tmp/callraft-scale/<time>), CALLRAFT_PORT_BASE (15600), KEEP (0).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
n=${N:-1000000}
dur=${DUR:-10}
build=$(cd "${CALLRAFT_BUILD:-$here/build}" 2>/dev/null && pwd || echo "$here/build")
out=${BENCH_OUT:-/tmp/callraft-scale/$(date +%Y%m%dT%H%M%S)}
port_base=${CALLRAFT_PORT_BASE:-15600}
queue=scale.sales
lab=$out/lab
mkdir -p "$out"
export CALLRAFT_BUILD=$build CALLRAFT_LAB=$lab CALLRAFT_PORT_BASE=$port_base

log() { echo "scale: $*" >&2; }
die() { log "$*"; exit 1; }
cleanup() {
  "$here/deploy/cluster.sh" down >/dev/null 2>&1 || true
  mkdir -p "$out/logs"
  for f in "$lab"/node*/log; do cp "$f" "$out/logs/$(basename "$(dirname "$f")").log"; done 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$lab"/node*/data
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$build/callraftd" ] || [ ! -x "$build/callraft" ]; then
  log "building callraft in $build"
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 >/dev/null
fi
cr() { timeout "${T:-120}" "$build/callraft" --cluster "$cluster" "$@"; }
status_json() { cr --json status > "$1"; }
applied_of() { # node id -> its applied index (empty if unreachable)
  python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))
print(next((str(m.get("applied_index","")) for m in s["members"] if m["id"]==int(sys.argv[2]) and m.get("reachable")), ""))' "$1" "$2"
}
proc_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
record_procs() { # label: RSS and peak RSS (kB) of every node
  local f
  for f in "$lab"/node*/pid; do
    local id p; id=$(basename "$(dirname "$f")"); id=${id#node}; p=$(cat "$f")
    echo "$1 $id $(proc_field "$p" VmRSS) $(proc_field "$p" VmHWM)" >> "$out/procs.txt"
  done
}
wait_equal() { # all nodes at one applied index, at most $1 s
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$1" ]; do
    status_json "$out/st.json" 2>/dev/null || { sleep 1; continue; }
    python3 -c 'import json,sys
s=json.load(open(sys.argv[1])); a={m.get("applied_index") for m in s["members"] if m.get("reachable")}
sys.exit(0 if len(a)==1 and len(s["members"])==sum(1 for m in s["members"] if m.get("reachable")) else 1)' "$out/st.json" && return 0
    sleep 1
  done
  return 1
}

log "fresh 1+1+1 cluster in $lab (N = $n)"
"$here/deploy/cluster.sh" up 1+1+1 >/dev/null
cluster=$("$here/deploy/cluster.sh" addresses)
pids=$(cat "$lab"/node*/pid | paste -sd,)
T=60 cr bench --workload enqueue --clients 4 --duration 2 >/dev/null || die "warm-up failed"

bench_cycle() { # label
  log "$1: cycle on '$queue' at 1 and 16 clients, ${dur}s each"
  T=$((4 * dur + 120)) cr --json bench --workload cycle --queue "$queue" --clients 1,16 \
    --duration "$dur" --pids "$pids" > "$out/cycle-$1.json"
}
bench_cycle empty
record_procs empty

log "preload: $n calls into '$queue', then $n tickets (64 clients)"
t0=$SECONDS
T=7200 cr --json bench --workload enqueue --queue "$queue" --clients 64 --ops "$n" \
  --duration 3600 --pids "$pids" > "$out/preload-calls.json"
t1=$SECONDS
T=7200 cr --json bench --workload ticket --clients 64 --ops "$n" --duration 3600 \
  --pids "$pids" > "$out/preload-tickets.json"
t2=$SECONDS
echo "{\"calls_s\": $((t1 - t0)), \"tickets_s\": $((t2 - t1))}" > "$out/preload-time.json"
wait_equal 300 || die "nodes did not reach one applied index within 300 s"
record_procs preloaded
T=60 cr --json queue show "$queue" --limit 1 > "$out/queue-head.json" || true

log "snapshots of the whole state: each node in turn (callraft snapshot)"
for i in 1 2 3; do
  T=1900 timeout 1900 "$build/callraft" --cluster "127.0.0.1:$((port_base + 100 + i))" --json \
    --timeout 60000 snapshot > "$out/snapshot-node$i.json" || log "node $i: snapshot failed"
done
record_procs snapshotted
# The snapshots just wrote several GB: let the kernel write them back before measuring, so that
# the loaded figures are the state's and not a disk still busy with those files.
log "flushing written-back files before measuring (sync, at most 300 s)"
timeout 300 sync || log "sync did not finish in 300 s: measuring anyway"

bench_cycle loaded
record_procs loaded

leader_addr=$(python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))
print(next(m["client_address"] for m in s["members"] if m["id"]==s["leader_id"]))' "$out/st.json")
log "the cycle at 16 clients while the leader ($leader_addr) copies and writes a snapshot"
T=$((2 * dur + 120)) cr --json bench --workload cycle --queue "$queue" --clients 16 \
  --duration $((2 * dur)) --pids "$pids" > "$out/cycle-during-snapshot.json" &
bench_pid=$!
sleep 2
timeout 1900 "$build/callraft" --cluster "$leader_addr" --json --timeout 60000 snapshot \
  > "$out/snapshot-during-bench.json" || log "leader snapshot during the bench failed"
wait "$bench_pid" || log "the cycle bench during the snapshot failed"
status_json "$out/status-loaded.json"
du -sb "$lab"/node*/data/state "$lab"/node*/data/raft > "$out/du.txt" 2>/dev/null || du -sb "$lab"/node*/data/* > "$out/du.txt"

log "join: a new empty node 4 at tehran, added and promoted to voter"
"$here/deploy/cluster.sh" new 4 tehran >/dev/null
p4=$(cat "$lab/node4/pid")
addr4=127.0.0.1:$((port_base + 104)) # deploy/cluster.sh's port layout
raft4=127.0.0.1:$((port_base + 4))
cr members add 4 --site tehran --raft-address "$raft4" --client-address "$addr4" >/dev/null
status_json "$out/st.json"
target=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["commit_index"])' "$out/st.json")
j0=$(date +%s.%N)
# The promotion waits for raft's catch-up rounds; the client may give up on it before they end
# (its attempts time out) while raft goes on: what counts is the catch-up measured below.
T=900 cr --timeout 900000 members assign 4 voter >/dev/null 2>"$out/assign.err" ||
  log "members assign returned early: $(tail -1 "$out/assign.err"); waiting for the catch-up"
caught=""
for _ in $(seq 1200); do
  status_json "$out/st.json" 2>/dev/null || { sleep 0.5; continue; }
  a=$(applied_of "$out/st.json" 4)
  if [ -n "$a" ] && [ "$a" -ge "$target" ]; then caught=$(date +%s.%N); break; fi
  sleep 0.5
done
[ -n "$caught" ] || die "node 4 did not catch up to index $target within 600 s"
echo "{\"target_index\": $target, \"seconds\": $(python3 -c "print(round($caught - $j0, 2))"), \"rss_kb\": $(proc_field "$p4" VmRSS), \"peak_rss_kb\": $(proc_field "$p4" VmHWM)}" > "$out/join.json"
wait_equal 120 || log "WARNING: the four nodes did not reach one applied index within 120 s"
status_json "$out/status-final.json"
record_procs joined
grep -h "snapshot at index" "$lab"/node*/log > "$out/snapshots.txt" || true

python3 "$here/deploy/bench/report-scale.py" "$out" "$n" | tee "$out/report.txt"
log "results in $out"
