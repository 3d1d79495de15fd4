#!/usr/bin/env bash
# http_vs_binary.sh: HTTP/JSON enqueue against the binary protocol's, side by side in one run.
#
# A fresh 1+1+1 cluster (deploy/cluster.sh, its own lab dir, wiped at exit), warmed up, then for
# each concurrency level the binary protocol (`callraft bench --workload enqueue`) and the HTTP API
# (`callraft-http-bench`, tools/http_bench.c: the same closed-loop model, shapes and leader-first
# addressing) one after the other, so both see the same machine load as nearly as a shared machine
# allows. Prints a table (ops/s, p50, p99, the CPU time the three nodes spent per acknowledged op,
# and the HTTP/binary throughput ratio) and writes the raw JSON of every level to $BENCH_OUT. CPU
# per op is the figure least moved by other load on a shared machine.
#
#   deploy/bench/http_vs_binary.sh            # DUR=10 CONC="1 16 64"
#   DUR=5 CONC="1 16" deploy/bench/http_vs_binary.sh
#
# Environment: CALLRAFT_BUILD (./build), CALLRAFT_PORT_BASE (15600), DUR, CONC, ROUNDS (1: each
# level once per protocol; 2 or more alternate binary/HTTP that many times and keep every figure),
# BENCH_OUT (/tmp/callraft-http-bench/<time>). Everything it starts it stops at exit, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${CALLRAFT_BUILD:-$here/build}" && pwd)
export CALLRAFT_BUILD=$build
export CALLRAFT_PORT_BASE=${CALLRAFT_PORT_BASE:-15600}
export CALLRAFT_LAB=$(mktemp -d /tmp/callraft-hb.XXXXXX)
DUR=${DUR:-10}
CONC=${CONC:-1 16 64}
ROUNDS=${ROUNDS:-1}
out=${BENCH_OUT:-/tmp/callraft-http-bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
cluster=$here/deploy/cluster.sh

cleanup() { "$cluster" down >/dev/null 2>&1 || true; rm -rf "$CALLRAFT_LAB"; }
trap cleanup EXIT

for b in callraftd callraft callraft-http-bench; do
  [ -x "$build/$b" ] || { echo "http_vs_binary: $build/$b missing: build first" >&2; exit 2; }
done
"$cluster" up 1+1+1 >/dev/null
leader=$("$cluster" leader)
bin_addr=127.0.0.1:$((CALLRAFT_PORT_BASE + 100 + leader))
http_addr=127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + leader))
pids=$(cat "$CALLRAFT_LAB"/node*/pid | paste -sd,)
echo "cluster up, leader $leader; ${DUR}s per level, clients: $CONC; rounds: $ROUNDS; results in $out"
# Warm-up: both paths once, not measured.
"$build/callraft" --cluster "$bin_addr" bench --workload enqueue --clients 4 --duration 2 >/dev/null
"$build/callraft-http-bench" --address "$http_addr" --clients 4 --duration 2 >/dev/null

node_cpu_ticks() { # utime + stime of every node, in clock ticks
  local t=0 p
  for p in ${pids//,/ }; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done
  echo $t
}
hz=$(getconf CLK_TCK)
printf '%-8s %-6s %10s %9s %9s %12s %10s\n' clients proto ops/s p50_ms p99_ms node_cpu_us/op http/bin
for r in $(seq 1 "$ROUNDS"); do
  for k in $CONC; do
    c0=$(node_cpu_ticks)
    "$build/callraft" --cluster "$bin_addr" --json bench --workload enqueue --clients "$k" \
      --duration "$DUR" > "$out/binary-$k-$r.json"
    c1=$(node_cpu_ticks)
    "$build/callraft-http-bench" --address "$http_addr" --clients "$k" --duration "$DUR" --json \
      > "$out/http-$k-$r.json"
    c2=$(node_cpu_ticks)
    python3 - "$out/binary-$k-$r.json" "$out/http-$k-$r.json" "$k" $((c1 - c0)) $((c2 - c1)) "$hz" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["levels"][0]
h = json.load(open(sys.argv[2]))["levels"][0]
k, hz = sys.argv[3], int(sys.argv[6])
cpu = {"binary": int(sys.argv[4]), "http": int(sys.argv[5])}
for name, l in (("binary", b), ("http", h)):
    ratio = "%.2f" % (h["ops_per_s"] / b["ops_per_s"]) if name == "http" and b["ops_per_s"] else ""
    us = cpu[name] * 1e6 / hz / l["ops"] if l["ops"] else 0
    print("%-8s %-6s %10.0f %9.2f %9.2f %12.0f %10s" % (k, name, l["ops_per_s"], l["latency_ms"]["p50"],
                                                         l["latency_ms"]["p99"], us, ratio))
    if l.get("failed") or l.get("refused"):
        print("         (%s: refused %s, failed %s)" % (name, l.get("refused"), l.get("failed")))
PY
  done
done
