#!/usr/bin/env bash
# A short chaos drill on the three-city lab (deploy/drill.sh), bounded to about 3 minutes:
#   1. the leader's whole site is killed under traffic, then restarted;
#   2. a call-center site is cut off by the network (iptables), then healed.
# Each run checks every node's final state against the traffic history (deploy/drill/check.py):
# the test fails on any acknowledged write lost, any write applied twice, or any invariant or
# order violation. It also proves the checker can fail: a history with a forged acknowledged
# enqueue must be refused.
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

echo "--- drill 1: kill the leader's site under traffic"
timeout 240 "$ROOT/deploy/drill.sh" --fault kill-site --site leader --warmup 6 --hold 12 --settle 5 \
  --rate 20 --out "$OUT/kill-site" "${loop[@]}"

if [ "${CALLRAFT_DRILL_SHORT_CUT:-1}" != 0 ]; then
  echo "--- drill 2: cut a site off"
  fault=cut-site
  if [ ${#loop[@]} -gt 0 ] && ! iptables -w -n -L INPUT >/dev/null 2>&1; then
    echo "--- no iptables here: pausing the leader instead of a partition"
    fault=pause-leader
  fi
  timeout 240 "$ROOT/deploy/drill.sh" --fault "$fault" --site shiraz --warmup 5 --hold 12 --settle 5 \
    --rate 20 --out "$OUT/cut" "${loop[@]}"
fi

echo "--- the checker refuses a forged acknowledged enqueue"
python3 - "$OUT/kill-site" <<'PY'
import json, sys, glob
d = sys.argv[1]
src = sorted(glob.glob(d + "/history-*.jsonl"))[0]
ops = [json.loads(l) for l in open(src)]
e = next(o for o in ops if o["op"] == "enqueue" and o["outcome"] == "OK")
forged = dict(e, call="forged-call-1")
open(d + "/forged.jsonl", "w").write("".join(json.dumps(o) + "\n" for o in ops + [forged]))
PY
if python3 "$ROOT/deploy/drill/check.py" check --history "$OUT/kill-site/forged.jsonl" \
  --dump "$OUT/kill-site"/dump-node*.jsonl >/dev/null; then
  echo "FAIL: the checker accepted a forged acknowledged enqueue" >&2; exit 1
fi
echo "PASS"
