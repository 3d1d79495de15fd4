#!/usr/bin/env bash
# Routing through failover (issue #3), on a 1+1+1 cluster of real processes: the leader is killed
# in the middle of an offer, before an overflow and after a site-loss conversion. The Tick of
# whichever node leads drives the rules, so the offer still expires, the overflow still happens,
# and every caller is in the end exactly once where the rules put them, with their place in line.
source "$(dirname "$0")/lib.sh"

q() { "$CLI" --cluster "$(cluster)" --timeout 20000 "$@"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
call_field() { q --json call show "$1" | jq_py "d['call'].get('$2', '')"; }
queue_order() { q --json queue show sales | jq_py "' '.join(c['call_id'] for c in d['calls'])"; }
kill_leader() {
  local leader new
  leader=$(wait_leader)
  "$CLUSTER_SH" kill "$leader" KILL >/dev/null
  new=$(wait_leader "$leader")
  echo "killed leader $leader; new leader $new" >&2
  echo "$leader"
}

step "start a 1+1+1 cluster; agents at tehran and shiraz; queue sales"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null
pbx_heartbeats tehran shiraz
q queue configure sales --overflow-after 6s --offer-timeout 4s >/dev/null
q agent login t1 --site tehran --skills sales >/dev/null
q agent login s1 --site shiraz --skills sales >/dev/null
desk_heartbeats t1 s1 # the test may outlast their 30 s presence on a loaded machine
for i in 1 2 3 4; do
  q call enqueue --call-id c$i --queue sales --caller +98210000$i --site tehran >/dev/null
done
q call enqueue --call-id c5 --queue sales --caller +98710000005 --site shiraz >/dev/null
[ "$(queue_order)" = "c1 c2 c3 c4 c5" ] || fail "queue order: $(queue_order)"

step "t1 gets an offer; the leader dies before it is answered"
[ "$(q --json call next --agent t1 | jq_py "d['call']['call_id']")" = c1 ] || fail "offer"
killed=$(kill_leader)
# The offer times out (4 s) under the new leader: its Tick returns c1 (waited for, not slept on).
deadline=$((SECONDS + 30))
until [ "$(call_field c1 state)" = waiting ]; do
  [ $SECONDS -lt $deadline ] || fail "c1 not back 30 s after the new leader: $(call_field c1 state)"
  sleep 0.5
done
[ "$(queue_order)" = "c1 c2 c3 c4 c5" ] || fail "c1 lost its place: $(queue_order)"
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3

step "overflow: shiraz takes tehran's first caller once they waited 6 s (a leader change between)"
killed=$(kill_leader)
sleep 2
offer=$(q --json call next --agent s1 | jq_py "d['call']['call_id'] + ' ' + d['call']['offer_token']")
[ "${offer% *}" = c1 ] || fail "s1 did not get c1: $offer"
q call answer c1 --agent s1 --token "${offer#* }" >/dev/null
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3

step "site down tehran: waiting tehran callers become callbacks in order; then the leader dies"
q site down tehran --reason drill >/dev/null
killed=$(kill_leader)
[ "$(queue_order)" = "c2 c3 c4 c5" ] || fail "order after conversion: $(queue_order)"
for c in c2 c3 c4; do
  [ "$(call_field $c callback)" = True ] || fail "$c is not a callback"
done
[ "$(call_field c5 callback)" = "" ] || fail "c5 (shiraz) became a callback"
[ "$(call_field c1 state)" = answered ] || fail "c1: $(call_field c1 state)"
[ "$(call_field c1 agent_id)" = s1 ] || fail "c1 held by $(call_field c1 agent_id)"
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3

step "every node holds the same queue: nobody lost, nobody twice"
for id in 1 2 3; do
  got=$("$CLI" --cluster "$(client_addr $id)" --stale --json queue show sales |
        jq_py "' '.join(c['call_id'] for c in d['calls'])")
  [ "$got" = "c2 c3 c4 c5" ] || fail "node $id queue: $got"
done
echo "PASS"
