#!/usr/bin/env bash
# A short chaos drill on the three-city lab (deploy/drill.sh), bounded to about 3 minutes:
#   1. the leader's whole site is killed under traffic, then restarted;
#   2. a call-center site is cut off by the network (iptables), then healed.
# Each run checks every node's final state against the traffic history (deploy/drill/check.py):
# the test fails on any acknowledged write lost, any write applied twice, or any invariant or
# order violation, and on a history that checks nothing: no enqueue acknowledged before the fault,
# or none started after the heal (under heavy load the traffic may never get through; the drill
# must not pass then). It also proves the checker can fail: a history with a forged acknowledged
# enqueue, one with nothing acknowledged, and one without the writes after the heal must be refused.
# Needs root for network namespaces; without them the lab falls back to --loopback (no latency,
# partitions only where iptables works). CALLRAFT_DRILL_SHORT_CUT=0 runs drill 1 only (the ASan
# stage of deploy/test.sh: one drill against the sanitized daemons, in half the time).
. "$(dirname "$0")/drill_lib.sh" "${1:?usage: test_drill_short.sh BUILD_DIR}" drill-test crt \
  callraftd callraft callraft-traffic callraft-delayproxy
loop=()
if ! drill_netns; then
  echo "--- network namespaces unavailable here: running the drills in --loopback mode"
  loop=(--loopback)
fi

# drill NAME DIR ARGS...: deploy/drill.sh ARGS with its output in DIR; if it fails, so does the
# test, saying why (the checker's first findings: lost, duplicated, vacuous ...).
drill() {
  local name=$1 dir=$2 rc=0 why
  shift 2
  timeout 240 "$ROOT/deploy/drill.sh" "$@" --out "$dir" "${loop[@]}" || rc=$?
  [ $rc -ne 0 ] || return 0
  why=$(python3 -c 'import json, sys; print("; ".join(json.load(open(sys.argv[1]))["violations"][:3]))' \
    "$dir/check.json" 2>/dev/null) || why="no check.json"
  echo "FAIL: drill $name exited with $rc: ${why:-see its output above}" >&2
  exit 1
}

echo "--- drill 1: kill the leader's site under traffic"
drill kill-site "$OUT/kill-site" --fault kill-site --site leader --warmup 6 --hold 12 --settle 5 --rate 20

if [ "${CALLRAFT_DRILL_SHORT_CUT:-1}" != 0 ]; then
  echo "--- drill 2: cut a site off"
  fault=cut-site
  if [ ${#loop[@]} -gt 0 ] && ! iptables -w -n -L INPUT >/dev/null 2>&1; then
    echo "--- no iptables here: pausing the leader instead of a partition"
    fault=pause-leader
  fi
  drill "$fault" "$OUT/cut" --fault "$fault" --site shiraz --warmup 5 --hold 12 --settle 5 --rate 20
fi

echo "--- the checker refuses a forged acknowledged enqueue, nothing acknowledged, no write after the heal"
python3 - "$OUT/kill-site" <<'PY'
import json, sys, glob
d = sys.argv[1]
src = sorted(glob.glob(d + "/history-*.jsonl"))
ops = [json.loads(l) for p in src for l in open(p) if l.strip()]
heal = max(json.loads(l)["t_ms"] for l in open(d + "/events.jsonl") if '"heal"' in l)
e = next(o for o in ops if o["op"] == "enqueue" and o["outcome"] == "OK")
forged = dict(e, call="forged-call-1")
def write(name, lst):
    open(d + "/" + name, "w").write("".join(json.dumps(o) + "\n" for o in lst))
write("forged.jsonl", ops + [forged])
write("none-acked.jsonl", [o for o in ops if o["outcome"] != "OK"])
write("before-heal.jsonl", [o for o in ops if o["start_ms"] <= heal])
PY
# refused HISTORY WANT [ARGS...]: the checker must fail on HISTORY, with a line matching WANT.
refused() {
  local h=$1 want=$2 out rc=0
  shift 2
  out=$(python3 "$ROOT/deploy/drill/check.py" check --history "$OUT/kill-site/$h" \
    --dump "$OUT/kill-site"/dump-node*.jsonl "$@" 2>&1) || rc=$?
  [ $rc -ne 0 ] || { echo "FAIL: the checker accepted $h" >&2; exit 1; }
  echo "$out" | grep -qE -- "$want" ||
    { echo "$out" >&2; echo "FAIL: the checker refused $h, but not for '$want'" >&2; exit 1; }
  echo "  $h: refused ($(echo "$out" | grep -E -m1 -- "$want" | sed 's/^ *//'))"
}
refused forged.jsonl "lost: node [0-9]+: acknowledged enqueue of forged-call-1"
refused none-acked.jsonl "vacuous: 0 acknowledged enqueue"
refused before-heal.jsonl "vacuous: no acknowledged enqueue started after the last heal" \
  --events "$OUT/kill-site/events.jsonl"
echo "PASS"
