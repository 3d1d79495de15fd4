#!/usr/bin/env bash
# tls.sh: what mutual TLS costs, side by side in one run (docs/bench.md, "TLS on and off").
#
#   deploy/bench/tls.sh                        # ~4 min: prints the table, writes $OUT/tls.json
#   DUR=3 CONC="1 64" ROUNDS=1 deploy/bench/tls.sh   # ~1 min smoke run
#
# For each of ROUNDS rounds, a fresh 1+1+1 cluster on loopback (deploy/cluster.sh) with mutual TLS
# (the default: peers, forward link and clients) and then one with `insecure = true`, each
# measured with the same `callraft bench --workload $WORKLOAD` at every level of $CONC (clients
# talk to the leader, one request outstanding each, [state] sync = false as by default). Rounds
# alternate the two modes so that a neighbour's load on a shared machine falls on both. The table
# gives each mode's throughput (mean over rounds) and latency, and TLS's cost: 1 - on/off.
#
# Environment (defaults): CALLRAFT_BUILD (./build), OUT (/tmp/callraft-bench-tls/<time>), DUR (10 s
# per level), CONC ("1 16 64"), ROUNDS (2), WORKLOAD (enqueue), CALLRAFT_PORT_BASE (15400).
# Everything it starts it stops at exit, by the PIDs it started.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${CALLRAFT_BUILD:-$here/build}
out=${OUT:-/tmp/callraft-bench-tls/$(date +%Y%m%d-%H%M%S)}
dur=${DUR:-10}
conc=${CONC:-"1 16 64"}
rounds=${ROUNDS:-2}
workload=${WORKLOAD:-enqueue}
export CALLRAFT_PORT_BASE=${CALLRAFT_PORT_BASE:-15400} CALLRAFT_BUILD=$build

die() { echo "tls.sh: $*" >&2; exit 2; }
log() { echo "[bench-tls $(date +%T)] $*" >&2; }
case "$dur" in ''|*[!0-9]*) die "DUR: '$dur': expected whole seconds";; esac
case "$rounds" in ''|*[!0-9]*|0) die "ROUNDS: '$rounds': expected a positive number";; esac
[ -x "$build/callraftd" ] && [ -x "$build/callraft" ] || die "$build/callraftd or callraft not built"
mkdir -p "$out"
levels=$(echo $conc | tr ' ' ',')
current_lab=""
cleanup() {
  [ -n "$current_lab" ] && CALLRAFT_LAB=$current_lab "$here/deploy/cluster.sh" wipe >/dev/null 2>&1 || true
}
trap cleanup EXIT

run() { # ROUND MODE(on|off)
  local round=$1 mode=$2 lab=$out/lab-$1-$2 pids cluster
  current_lab=$lab
  export CALLRAFT_LAB=$lab
  if [ "$mode" = off ]; then
    export CALLRAFT_INSECURE=1
    unset CALLRAFT_TLS_CA CALLRAFT_TLS_CERT CALLRAFT_TLS_KEY
  else
    unset CALLRAFT_INSECURE
    export CALLRAFT_TLS_CA=$lab/certs/ca.crt CALLRAFT_TLS_CERT=$lab/certs/admin.crt \
      CALLRAFT_TLS_KEY=$lab/certs/admin.key
  fi
  log "round $round, TLS $mode: fresh 1+1+1 cluster"
  "$here/deploy/cluster.sh" up 1+1+1 >/dev/null
  pids=$(cat "$lab"/node*/pid | paste -sd,)
  cluster=$("$here/deploy/cluster.sh" addresses)
  timeout 60 "$build/callraft" --cluster "$cluster" bench --workload "$workload" --clients 16 \
    --duration 2 >/dev/null || log "warm-up failed"
  log "round $round, TLS $mode: $workload at clients $levels, ${dur}s each"
  timeout $(( (dur + 30) * $(echo $conc | wc -w) + 30 )) "$build/callraft" --cluster "$cluster" --json \
    bench --workload "$workload" --clients "$levels" --duration "$dur" --pids "$pids" \
    > "$out/round$round-tls-$mode.json" || log "bench failed (see $out/round$round-tls-$mode.json)"
  "$here/deploy/cluster.sh" wipe >/dev/null
  current_lab=""
}

for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then run "$r" on; run "$r" off; else run "$r" off; run "$r" on; fi
done

python3 - "$out" "$rounds" <<'PY' | tee "$out/table.txt"
import json, sys, statistics
out, rounds = sys.argv[1], int(sys.argv[2])
res = {"on": {}, "off": {}}
for r in range(1, rounds + 1):
    for mode in ("on", "off"):
        try:
            doc = json.load(open("%s/round%d-tls-%s.json" % (out, r, mode)))
        except (OSError, ValueError) as e:
            print("round %d TLS %s: no result (%s)" % (r, mode, e)); continue
        for lv in doc["levels"]:
            cpu = sum(n["cpu_s"] for n in lv.get("nodes", [])) / max(lv["ops"], 1) * 1e6
            res[mode].setdefault(lv["clients"], []).append(
                (lv["ops_per_s"], lv["latency_ms"]["p50"], lv["latency_ms"]["p99"], cpu))
summary = []
print("%-8s %12s %12s %8s %14s %14s %12s" % ("clients", "TLS on op/s", "TLS off op/s", "cost",
      "p50 on/off ms", "p99 on/off ms", "cpu us/op on/off"))
for c in sorted(set(res["on"]) & set(res["off"])):
    on, off = res["on"][c], res["off"][c]
    m = lambda xs, i: statistics.mean(x[i] for x in xs)
    cost = 1 - m(on, 0) / m(off, 0) if m(off, 0) else 0
    summary.append({"clients": c, "ops_per_s_on": m(on, 0), "ops_per_s_off": m(off, 0),
                    "cost": cost, "p50_ms_on": m(on, 1), "p50_ms_off": m(off, 1),
                    "p99_ms_on": m(on, 2), "p99_ms_off": m(off, 2),
                    "node_cpu_us_per_op_on": m(on, 3), "node_cpu_us_per_op_off": m(off, 3),
                    "rounds_on": [x[0] for x in on], "rounds_off": [x[0] for x in off]})
    print("%-8d %12.0f %12.0f %7.1f%% %6.2f / %-6.2f %6.2f / %-6.2f %6.0f / %-6.0f" % (
        c, m(on, 0), m(off, 0), 100 * cost, m(on, 1), m(off, 1), m(on, 2), m(off, 2), m(on, 3), m(off, 3)))
json.dump({"rounds": rounds, "levels": summary}, open(out + "/tls.json", "w"), indent=1)
PY
log "results: $out/tls.json, table: $out/table.txt"
