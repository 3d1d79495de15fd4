#!/usr/bin/env bash
# Raft links to every voter are open before an election needs them (issue 12, item 6;
# replication/repl_warm.c). raft_uv opens an outgoing link only when it first sends to a peer and
# notices a broken one only when a write into it fails (losing that message), and a follower sends
# only to its leader: a follower that turned candidate dialled every voter at that moment (TCP +
# TLS each way before its pre-vote could be answered), and a voter still holding a link to the
# candidate's previous incarnation wrote its grant into it and lost it. Checked here by behaviour:
#   1. in a 1+1+1 cluster each follower has an outgoing link up to the other follower, though
#      neither ever sent it anything raft needed (no election since the first);
#   2. after that other follower is SIGKILLed and restarted, the first one dials it again by itself,
#      with no election in between.
# On the code before, neither link was ever opened: both steps fail.
source "$(dirname "$0")/lib.sh"
if [ "${CALLRAFT_INSECURE:-0}" = 1 ]; then
  echo "SKIP: the links are seen by their 'TLS up' log lines" && exit 77
fi

# links_up NODE PEER: how many times NODE's outgoing link to PEER came up.
links_up() { grep -cE "peer to member $2 at .*TLS up" "$CALLRAFT_LAB/node$1/log" || true; }
# wait_links NODE PEER N: until NODE's link to PEER has come up at least N times (at most 20 s).
wait_links() {
  local deadline=$((SECONDS + 20))
  until [ "$(links_up "$1" "$2")" -ge "$3" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

"$CLUSTER_SH" up 1+1+1 >/dev/null
l=$(leader_id)
[ "$l" != 0 ] || fail "no leader"
followers=()
for id in 1 2 3; do [ "$id" = "$l" ] || followers+=("$id"); done
a=${followers[0]} b=${followers[1]}
# Candidacies in the logs of the nodes not restarted (the restarted one's log may start anew).
candidacies() { cat "$CALLRAFT_LAB/node$a/log" "$CALLRAFT_LAB/node$l/log" | grep -c "role=candidate" || true; }
terms_before=$(candidacies)

step "each follower (${a}, ${b}) has a link up to every other voter, the other follower included"
for n in 1 2 3; do
  for m in 1 2 3; do
    [ "$n" = "$m" ] && continue
    wait_links "$n" "$m" 1 || fail "node $n never opened a raft link to node $m: $(grep -E 'peer (to|from) member' "$CALLRAFT_LAB/node$n/log" | tail -n 5)"
  done
done
echo "every node has an outgoing link to both others"

step "node $b restarted: node $a dials it again by itself"
before=$(links_up "$a" "$b")
"$CLUSTER_SH" kill "$b" KILL >/dev/null
"$CLUSTER_SH" start "$b" >/dev/null
wait_links "$a" "$b" $((before + 1)) ||
  fail "node $a did not reopen its link to restarted node $b: $(grep -E "member $b" "$CALLRAFT_LAB/node$a/log" | tail -n 5)"
[ "$(leader_id)" = "$l" ] || fail "leadership moved from node $l: the test needs no election"
terms_after=$(candidacies)
[ "$terms_after" = "$terms_before" ] || fail "a node turned candidate ($terms_before -> $terms_after candidacies): the link may come from an election"
echo "node $a's link to node $b came up again ($before -> $(links_up "$a" "$b")), no election"
echo "PASS"
