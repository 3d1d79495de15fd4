#!/usr/bin/env bash
# A 3-node cluster (1+1+1). Four client sessions write (one ticket per unique customer) through
# every node while the leader is killed with SIGKILL. Afterwards every acknowledged write is present
# exactly once on every node, including the killed one after it restarts and catches up.
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
echo "leader: $leader"

step "write; SIGKILL the leader once writes flow; stop after 20 more are acknowledged"
ack=$CALLRAFT_LAB/acks
"$TRAFFIC" write --cluster "$(cluster)" --ack-file "$ack" --clients 4 --duration 60 > "$CALLRAFT_LAB/write.out" &
writer=$!
wait_acks "$ack" 20
kill_ms=$(date +%s%3N)
"$CLUSTER_SH" kill "$leader" KILL
new_leader=$(wait_leader "$leader")
echo "new leader: $new_leader"
stop_writes "$writer" "$ack" "$kill_ms" # 20 more acknowledged after the kill, then stop
cat "$CALLRAFT_LAB/write.out"
acked=$(wc -l < "$ack")
[ "$acked" -gt 0 ] || fail "no write was acknowledged"
first_after=$(awk -v k="$kill_ms" '$1 > k {print $1; exit}' "$ack")
gap=$(service_gap "$ack" "$kill_ms")
[ -n "$first_after" ] || fail "no write acknowledged after the kill"
echo "acknowledged=$(wc -l < "$ack"); service gap around the SIGKILL: $gap"

step "restart the killed node; it catches up"
"$CLUSTER_SH" start "$leader" >/dev/null
wait_caught_up 1 2 3

step "verify: every acknowledged write exactly once on every node"
"$TRAFFIC" verify --nodes "$(cluster)" --ack-file "$ack" --expect-total "$acked"
echo "PASS"
