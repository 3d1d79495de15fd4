#!/usr/bin/env bash
# idle_agents.sh: log entries per second with N ready, idle agents (issue #14: offers are pushed,
# so an idle agent costs the log nothing; the leader's Tick is the only entry).
#
#   CALLRAFT_PORT_BASE=16000 deploy/bench/idle_agents.sh [AGENTS=300] [SECONDS=20]
#
# Starts a fresh 1+1+1 cluster (deploy/cluster.sh, in a temporary lab), logs AGENTS agents in at
# site "idle" (presence timeout 10 minutes, so no heartbeat is due during the window) and makes
# each ready (`callraft agent ready`), holds one push channel (`callraft agent offers`) per 10
# agents on the followers, then samples the leader's commit index over SECONDS and prints entries
# per second next to the Tick rate (1000 / CALLRAFT_TICK_INTERVAL_MS), and checks the agents are
# still ready at the end (the window measured idle ready agents). Stops what it started.
set -euo pipefail
agents=${1:-300}
secs=${2:-20}
here=$(cd "$(dirname "$0")/../.." && pwd)
export CALLRAFT_BUILD=${CALLRAFT_BUILD:-$here/build}
export CALLRAFT_LAB=$(mktemp -d /tmp/callraft-idle.XXXXXX)
cli=$CALLRAFT_BUILD/callraft
channels=()
cleanup() {
  for p in "${channels[@]}"; do kill "$p" 2>/dev/null || true; done
  "$here/deploy/cluster.sh" down >/dev/null 2>&1 || true
  rm -rf "$CALLRAFT_LAB"
}
trap cleanup EXIT
"$here/deploy/cluster.sh" up 1+1+1 >/dev/null
cluster=$("$here/deploy/cluster.sh" addresses)
for _ in $(seq 50); do
  leader=$("$cli" --cluster "$cluster" --json status 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])' 2>/dev/null || echo 0)
  [ "$leader" != 0 ] && break
  sleep 0.2
done
q() { "$cli" --cluster "$cluster" --timeout 20000 "$@" >/dev/null; }
q site configure idle --presence-timeout 10m
for i in $(seq "$agents"); do
  q agent login "idle$i" --site idle --skills sales
  q agent ready "idle$i"
done
follower=$(( leader % 3 + 1 ))
for i in $(seq 1 10 "$agents"); do
  "$cli" --cluster "127.0.0.1:$((CALLRAFT_PORT_BASE + 100 + follower))" agent offers "idle$i" \
    >/dev/null 2>&1 &
  channels+=($!)
done
commit() { "$cli" --cluster "$cluster" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])'; }
sleep 2
c0=$(commit); t0=$(date +%s%3N)
sleep "$secs"
c1=$(commit); t1=$(date +%s%3N)
ready=$("$cli" --cluster "$cluster" --json agent list --site idle | python3 -c '
import json,sys
print(sum(1 for a in json.load(sys.stdin)["agents"] if a["state"].upper() == "AVAILABLE" and a.get("ready")))')
echo "agents still ready (AVAILABLE) at the end: $ready of $agents"
python3 - "$agents" "$c0" "$c1" "$t0" "$t1" <<'PY'
import sys
n, c0, c1, t0, t1 = map(int, sys.argv[1:])
rate = (c1 - c0) * 1000.0 / (t1 - t0)
print("%d ready idle agents: %d entries in %.1f s = %.2f entries/s (Ticks: 2.00/s)" % (n, c1 - c0, (t1 - t0) / 1000.0, rate))
PY
