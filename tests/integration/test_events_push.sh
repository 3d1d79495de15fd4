#!/usr/bin/env bash
# Pushed offers (issue #14 item 2) with real processes: an agent goes ready once; a call that
# arrives is offered by the replicated state machine in the very entry that queued it (within one
# commit), and the agent's push channels on a follower receive the offer with its fencing token,
# which answers the call: the binary one (`callraft agent offers`, a long poll) and the browser's
# (Server-Sent Events, GET /v1/agents/a1/offers, read by curl). A declined offer makes the agent not ready and the call
# goes to the next ready agent, again with no poll.
source "$(dirname "$0")/lib.sh"

q() { "$CLI" --cluster "$(cluster)" --timeout 20000 "$@"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# wait_offer FILE CALL: the JSON line of the offer of CALL in FILE (waits up to 10 s).
wait_offer() {
  local deadline=$((SECONDS + 10)) line
  while [ $SECONDS -lt $deadline ]; do
    line=$(grep "\"call_id\": *\"$2\"" "$1" | head -n 1 || true)
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.05
  done
  fail "no offer of $2 pushed within 10 s ($(wc -l < "$1") lines in $1)"
}

step "start a 1+1+1 cluster; a1 and a2 log in; a1 goes ready"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
follower=$(( leader % 3 + 1 ))
q agent login a1 --site paris --skills sales >/dev/null
q agent login a2 --site paris --skills sales >/dev/null
q agent ready a1 >/dev/null
[ "$(q --json agent show a1 | jq_py "d['agent']['state']")" = available ] || fail "a1 not available"

step "a1's desktop holds its push channel on follower $follower"
offers=$CALLRAFT_LAB/a1.jsonl
"$CLI" --cluster "$(client_addr "$follower")" --json agent offers a1 > "$offers" 2>&1 &
channel=$!
sse=$CALLRAFT_LAB/a1.sse
tls=(); scheme=http
if [ -n "${CALLRAFT_TLS_CERT:-}" ]; then # mutual TLS (the default)
  tls=(--cacert "$CALLRAFT_TLS_CA" --cert "$CALLRAFT_TLS_CERT" --key "$CALLRAFT_TLS_KEY"); scheme=https
fi
curl -sN "${tls[@]}" "$scheme://127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + follower))/v1/agents/a1/offers" > "$sse" &
sse_channel=$!
sleep 0.5

step "a call arrives: offered in the entry that queued it, pushed with its token"
enq=$(q --json call enqueue --call-id c1 --queue sales --caller +3311 --site paris)
at=$(echo "$enq" | jq_py "d['applied_index']")
offer=$(wait_offer "$offers" c1)
echo "enqueue applied at $at; pushed: $offer"
[ "$(echo "$offer" | jq_py "d['index']")" = "$at" ] || fail "the offer is not in the enqueue's entry"
[ "$(echo "$offer" | jq_py "d['agent_id']")" = a1 ] || fail "offer not to a1"
token=$(echo "$offer" | jq_py "d['offer_token']")
deadline=$((SECONDS + 10))
until grep -q '"call_id":"c1"' "$sse"; do
  [ $SECONDS -lt $deadline ] || fail "no offer of c1 on the SSE channel within 10 s: $(cat "$sse")"
  sleep 0.05
done
grep -B2 '"call_id":"c1"' "$sse"
sse_id=$(grep -B2 '"call_id":"c1"' "$sse" | sed -n 's/^id: //p')
[ "${sse_id%%.*}" = "$at" ] || fail "SSE id $sse_id is not of the enqueue's entry $at"
grep '"call_id":"c1"' "$sse" | sed 's/^data: //' |
  python3 -c "import json,sys; d=json.load(sys.stdin); assert '%d.%d' % (d['offer_term'], d['offer_index']) == '$token', d" ||
  fail "the SSE offer's token differs from the binary channel's ($token)"
q call answer c1 --agent a1 --token "$token" >/dev/null || fail "the pushed token does not answer"
q call end c1 --agent a1 >/dev/null

step "a1 declines the next offer: a1 is no longer ready, a2 (ready) gets the call"
q call enqueue --call-id c2 --queue sales --caller +3312 --site paris >/dev/null
token=$(wait_offer "$offers" c2 | jq_py "d['offer_token']")
# A desktop that connects only now (no cursor) still gets the offer it holds.
late=$(curl -sN "${tls[@]}" --max-time 1 "$scheme://127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + leader))/v1/agents/a1/offers" || true)
echo "$late" | grep -q '"call_id":"c2"' || fail "a late SSE channel did not get the pending offer: $late"
q agent ready a2 >/dev/null
q call reject c2 --agent a1 --token "$token" >/dev/null
[ "$(q --json call show c2 | jq_py "d['call']['agent_id']")" = a2 ] || fail "c2 did not go to a2"
[ "$(q --json agent show a1 | jq_py "d['agent']['ready']")" = False ] || fail "a1 still ready after declining"
kill "$channel" "$sse_channel" 2>/dev/null || true
wait "$channel" 2>/dev/null || true
echo "PASS"
