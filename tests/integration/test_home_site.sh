#!/usr/bin/env bash
# Leadership returns home (issue 12, node/home.c): on a 1+1+1 cluster with `[raft] home_site =
# tehran`, leadership moved to shiraz (as after a failover) goes back to tehran once tehran has kept
# up for the settle time (10 s), by itself; the hand-over is logged. Then the witness never keeps
# leadership: with shiraz dead and writes flowing (so raft's own pick of a transferee, the last
# voter that is not exactly caught up, is the dead node), leadership given to the witness goes to
# tehran within a few seconds, well before the home rule's 10 s settle time would bring it back.
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

step "the witness (node 3) hands leadership to a call-center voter at once, shiraz dead, writes flowing"
"$CLUSTER_SH" kill 2 KILL
"$TRAFFIC" write --cluster "$(client_addr 1),$(client_addr 3)" --ack-file "$CALLRAFT_LAB/acks" \
  --clients 16 --duration 12 > "$CALLRAFT_LAB/write.out" &
writer=$!
sleep 2
seen=$(wc -l < "$CALLRAFT_LAB/node3/log")
"$CLI" --cluster "$(client_addr 1)" --timeout 20000 members transfer 3 >/dev/null
t0=$(date +%s%3N)
# Who gave it back is in the witness's log (the home rule logs "home: ..." instead): that, not a
# deadline a loaded machine may miss, tells the witness rule from the home rule's 10 s settle.
wait_leader_is 1 30
echo "the witness handed leadership back after $(( $(date +%s%3N) - t0 )) ms (home settle: 10 s)"
tail -n +$((seen + 1)) "$CALLRAFT_LAB/node3/log" > "$CALLRAFT_LAB/node3.after"
grep -q "witness: handing leadership to node 1" "$CALLRAFT_LAB/node3.after" || fail "no hand-over logged by the witness"
! grep -q "home: site 'tehran' healthy" "$CALLRAFT_LAB/node3.after" || fail "the witness handed over by the home rule, not at once"
wait $writer || fail "writes failed around the hand-over: $(cat "$CALLRAFT_LAB/write.out")"
echo "PASS"
