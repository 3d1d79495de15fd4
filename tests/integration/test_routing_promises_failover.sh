#!/usr/bin/env bash
# Issue 16's rules through leader failovers, on a 1+1+1 cluster of real processes (the rules are
# unit-tested in tests/unit/test_state_routing.c; this checks they live in the replicated state and
# hold whichever node leads):
#   - a customer record set by the CRM survives the death of the leader that committed it, on
#     every node;
#   - a call of that diamond customer, enqueued by the PBX as regular, gets the record's tier and is
#     offered at once to a free agent of the other city although the customer's known agent is
#     busy and the queue's overflow delay is 30 s, with a leader killed between enqueue and offer;
#   - a waiting caller's position and expected wait come from the answer rate kept in the state,
#     the same on every node after another failover;
#   - the customer's history lists the call and its answer once, in order, on every node;
#   - an outbound campaign of 12 numbers, served by two PBX lines (agents of the campaign's queue,
#     one per city) through a leader kill: every number is released once, its dial attempt recorded
#     once and dialled once, and reached; the same counters on every node (issue 16 item 4).
source "$(dirname "$0")/lib.sh"

q() { "$CLI" --cluster "$(cluster)" --timeout 20000 "$@"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
kill_leader() {
  local leader new
  leader=$(wait_leader)
  "$CLUSTER_SH" kill "$leader" KILL >/dev/null
  new=$(wait_leader "$leader")
  echo "killed leader $leader; new leader $new" >&2
  echo "$leader"
}
# The agents' desktops renew their presence (30 s lease) in the background, as deployed ones do,
# for as long as this test runs (the loop ends by itself once the test's shell is gone).
desk_heartbeats() {
  ( while kill -0 $$ 2>/dev/null; do
      for a in "$@"; do "$CLI" --cluster "$(cluster)" --timeout 2000 agent heartbeat "$a" >/dev/null 2>&1 || true; done
      sleep 3
    done ) >/dev/null 2>&1 &
}

step "start a 1+1+1 cluster; t1 at tehran, s1 at shiraz; queue sales (overflow 30 s)"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null
pbx_heartbeats tehran shiraz
q queue configure sales --overflow-after 30s --known-agent-timeout 60s >/dev/null
q agent login t1 --site tehran --skills sales >/dev/null
q agent login s1 --site shiraz --skills sales >/dev/null
desk_heartbeats t1 s1

step "the CRM sets a diamond record; the leader that committed it dies"
q customer set cust-d --tier diamond --preferred-agent t1 --phone +989121110000 \
  --national-id 0499370899 --sms-consent yes >/dev/null
killed=$(kill_leader)
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3
for id in 1 2 3; do
  got=$("$CLI" --cluster "$(client_addr $id)" --stale --json customer show cust-d |
        jq_py "'%s %s %s' % (d['tier'], d['preferred_agent'], d['national_id'])")
  [ "$got" = "3 t1 0499370899" ] || fail "node $id: customer record: $got"
done

step "t1 (the known agent) is busy; a regular caller answered at once sets the answer rate"
q call enqueue --call-id r0 --queue sales --caller +982155500000 --site tehran >/dev/null
offer=$(q --json call next --agent t1 | jq_py "d['call']['call_id'] + ' ' + d['call']['offer_token']")
[ "${offer% *}" = r0 ] || fail "t1 did not get r0: $offer"
q call answer r0 --agent t1 --token "${offer#* }" >/dev/null

step "the diamond customer calls (the PBX says regular); the leader dies; s1 takes them at once"
q call enqueue --call-id pbx-d --queue sales --caller +989121110000 --customer cust-d --site tehran >/dev/null
q call enqueue --call-id r1 --queue sales --caller +982155500001 --site tehran >/dev/null
q call enqueue --call-id r2 --queue sales --caller +982155500002 --site tehran >/dev/null
killed=$(kill_leader)
[ "$(q --json call show pbx-d | jq_py "d['call']['tier']")" = 3 ] || fail "pbx-d is not diamond"
offer=$(q --json call next --agent s1 |
        jq_py "' '.join([d['call']['call_id'], str(d['call']['waited_ms']), d['call']['offer_token']])")
read -r got waited token <<< "$offer"
[ "$got" = pbx-d ] || fail "s1 did not get the diamond caller at once: $offer"
[ "$waited" -lt 30000 ] || fail "the diamond caller waited the overflow delay: $waited ms"
q call answer pbx-d --agent s1 --token "$token" >/dev/null
echo "s1 got pbx-d after $waited ms (a leader election between) and answered"
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3

step "position and expected wait: the same on every node, after another failover"
killed=$(kill_leader)
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3
ref=""
for id in 1 2 3; do
  got=$("$CLI" --cluster "$(client_addr $id)" --stale --json call show r2 |
        jq_py "'%s %s' % (d['queue_position'], d['expected_wait_ms'])")
  [ "${got% *}" = 2 ] || fail "node $id: r2 position: $got"
  [ "${got#* }" -ge 0 ] || fail "node $id: r2 expected wait unknown though r0 was answered: $got"
  [ -z "$ref" ] || [ "$got" = "$ref" ] || fail "node $id: r2 '$got', another node '$ref'"
  ref=$got
done
echo "r2: position and expected wait '$ref' on every node"

step "the customer's history: the call once, in order, on every node"
for id in 1 2 3; do
  got=$("$CLI" --cluster "$(client_addr $id)" --stale --json customer history cust-d |
        jq_py "' '.join(h['kind'] + ':' + h['id'] for h in d['history'])")
  [ "$got" = "call:pbx-d answered:pbx-d" ] || fail "node $id: history: $got"
done
step "an outbound campaign through a leader kill: every number dialled exactly once"
q agent login line-t --site tehran --skills outbound >/dev/null
q agent login line-s --site shiraz --skills outbound >/dev/null
desk_heartbeats line-t line-s
q queue configure outbound --overflow-after 0s >/dev/null
q campaign create flt --queue outbound --site tehran --pacing 100 >/dev/null
for i in $(seq 101 112); do echo "+9821555$i"; done > "$CALLRAFT_LAB/flt.txt"
q campaign add flt --file "$CALLRAFT_LAB/flt.txt" >/dev/null
dialled=$CALLRAFT_LAB/flt-dialled.txt
: > "$dialled"
# One PBX line serves one call: take it, record the attempt (committed before dialling), dial,
# the customer answers, hang up. A dial whose reply was lost in the failover is looked up: the
# attempt is on record (dialing), so the line dials it once now.
serve_line() {
  local line=$1 offer id token
  offer=$(q --json call next --agent "$line" 2>/dev/null |
          jq_py "d['call']['call_id'] + ' ' + d['call']['offer_token']" 2>/dev/null) || return 1
  read -r id token <<< "$offer"
  if ! q call dial "$id" --agent "$line" >/dev/null 2>&1; then
    [ "$(q --json call show "$id" | jq_py "'%s %s' % (d['call']['dialing'], d['call']['dial_attempts'])")" = "True 1" ] ||
      fail "$line: the dial attempt of $id is not on record"
  fi
  echo "$id" >> "$dialled" # the PBX dials now
  q call answer "$id" --agent "$line" --token "$token" >/dev/null
  q call end "$id" --agent "$line" >/dev/null
}
deadline=$(( $(date +%s) + 90 )); killed=""
while [ "$(wc -l < "$dialled")" -lt 12 ] && [ "$(date +%s)" -lt "$deadline" ]; do
  if [ -z "$killed" ] && [ "$(wc -l < "$dialled")" -ge 4 ]; then killed=$(kill_leader); fi
  serve_line line-t || serve_line line-s || sleep 0.3
done
[ -n "$killed" ] || fail "the leader was not killed during the campaign"
"$CLUSTER_SH" start "$killed" >/dev/null
wait_caught_up 1 2 3
[ "$(sort "$dialled" | uniq -d | wc -l)" = 0 ] || fail "a number was dialled twice: $(sort "$dialled" | uniq -d)"
[ "$(sort -u "$dialled" | wc -l)" = 12 ] || fail "not every number dialled: $(wc -l < "$dialled") dials"
for id in 1 2 3; do
  got=$("$CLI" --cluster "$(client_addr $id)" --stale --json campaign show flt --limit 20 |
        jq_py "'%d %d %d %d %d %s' % (d['campaign']['targets'], d['campaign']['released'], d['campaign']['reached'], d['campaign']['unreached'] + d['campaign']['ended'], len(d['calls']), sorted(set(c['dial_attempts'] for c in d['calls'])))")
  [ "$got" = "12 12 12 0 12 [1]" ] || fail "node $id: campaign flt: $got"
done
echo "campaign flt: 12 numbers, each released, recorded, dialled and reached once, on every node"

echo "PASS"
