#!/usr/bin/env bash
# The witness never stands in a cluster's first election (issue 12, item 6). A 2+2+1 cluster is
# started from empty data directories CALLRAFT_WITNESS_BOOT_STARTS times (5), its nodes in the order
# an operator or the lab starts them (tehran, shiraz, the witness last), CALLRAFT_WITNESS_BOOT_STAGGER
# seconds apart (0: together, as `cluster.sh up` does); every time a call-center voter must lead,
# and the witness must never have turned candidate, let alone leader (it would hand leadership away
# within a Tick, so its log is checked, not only who leads). Before the fix every node campaigned the
# moment it served (raft's election timer started at the loop's stale clock: replication/repl.c,
# start_now), and a witness whose file sets election_timeout_ms (as cluster.sh's do) had the
# voters' timeout: it turned candidate at every start and led in about 1 start of 12.
# Then the witness still gets a leader when it must: with both call-center sites' nodes but one
# dead, the witness and that voter (2 of 3 in a 1+1+1 cluster) elect the voter, and with that
# voter dead too there is no quorum, as before.
source "$(dirname "$0")/lib.sh"
starts=${CALLRAFT_WITNESS_BOOT_STARTS:-5}
stagger=${CALLRAFT_WITNESS_BOOT_STAGGER:-0}

"$CLUSTER_SH" config 2+2+1 >/dev/null
for round in $(seq 1 "$starts"); do
  step "start $round of $starts: a fresh 2+2+1 cluster, the witness (node 5) last"
  "$CLUSTER_SH" down >/dev/null
  rm -rf "$CALLRAFT_LAB"/node*/data "$CALLRAFT_LAB"/node*/log
  for id in 1 2 3 4 5; do
    "$CLUSTER_SH" start "$id" >/dev/null
    [ "$id" = 5 ] || sleep "$stagger"
  done
  deadline=$((SECONDS + 30)) l=0
  while [ $SECONDS -lt $deadline ]; do
    l=$(leader_id 2>/dev/null || echo 0)
    [ "$l" != 0 ] && break
    sleep 0.2
  done
  [ "$l" != 0 ] || fail "start $round: no leader after 30 s"
  # The witness would hand leadership away within a Tick: look at its log, not only at who leads.
  sleep 2
  if grep -q "role=leader" "$CALLRAFT_LAB"/node5/log; then
    fail "start $round: the witness (node 5) led: $(grep "role=" "$CALLRAFT_LAB"/node5/log | tail -n 3)"
  fi
  if grep -q "role=candidate" "$CALLRAFT_LAB"/node5/log; then
    fail "start $round: the witness (node 5) stood while voters could win: $(grep "role=" "$CALLRAFT_LAB"/node5/log | head -n 3)"
  fi
  l=$(leader_id)
  case "$l" in 1|2|3|4) echo "start $round: node $l leads; the witness never stood" ;;
    *) fail "start $round: leader '$l' is not a call-center voter" ;;
  esac
done

step "the witness still votes: 1+1+1, shiraz dead, then the leader; tehran and the witness elect tehran"
"$CLUSTER_SH" down >/dev/null
rm -rf "$CALLRAFT_LAB"/node* "$CALLRAFT_LAB"/members.ini
"$CLUSTER_SH" up 1+1+1 >/dev/null
"$CLUSTER_SH" kill 2 KILL >/dev/null
l=$(leader_id)
if [ "$l" = 2 ] || [ "$l" = 0 ]; then
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    l=$(leader_id "$(client_addr 1),$(client_addr 3)" 2>/dev/null || echo 0)
    [ "$l" = 1 ] && break
    sleep 0.3
  done
fi
[ "$l" = 1 ] || fail "with shiraz dead the leader is '$l', not tehran (node 1)"
"$CLI" --cluster "$(client_addr 1),$(client_addr 3)" --timeout 10000 status >/dev/null ||
  fail "tehran and the witness do not serve"
echo "PASS"
