#!/usr/bin/env bash
# Leadership returns home (issue 12, node/home.c): on a 1+1+1 cluster with `[raft] home_site =
# tehran`, leadership moved to shiraz (as after a failover) goes back to tehran once tehran has kept
# up for the settle time (10 s), by itself; the hand-over is logged.
source "$(dirname "$0")/lib.sh"
export CALLRAFT_NODE_INI_EXTRA='[raft]\nhome_site = tehran'

wait_leader_is() { # ID SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(leader_id 2>/dev/null || echo 0)" = "$1" ] && return 0
    sleep 0.5
  done
  fail "leader is $(leader_id 2>/dev/null || echo none), not node $1, after $2 s"
}

step "start a 1+1+1 cluster whose home is tehran (node 1)"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null
wait_leader_is 1 40

step "leadership moves to shiraz (node 2), then returns home by itself"
"$CLI" --cluster "$(cluster)" --timeout 20000 members transfer 2 >/dev/null
wait_leader_is 2 20
t0=$SECONDS
wait_leader_is 1 40
echo "back home after $((SECONDS - t0)) s"
grep -q "home: site 'tehran' healthy" "$CALLRAFT_LAB"/node2/log || fail "no hand-over logged by node 2"
echo "PASS"
