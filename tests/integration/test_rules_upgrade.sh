#!/usr/bin/env bash
# FSM rules versions across real processes (state/rules.c, docs/operations.md "Rolling upgrade").
# A 1+1+1 cluster: nodes 1 and 3 (the witness) run callraftd-rules2 (a test build declaring rules
# versions 1..2), node 2 runs the ordinary callraftd (1..1).
#   1. `rules upgrade 2` is refused while node 2 (1..1) is a member, and nothing changes; over
#      HTTP too: POST /v1/rules/upgrade gets 409 BAD_STATE naming member 2, GET /v1/rules shows
#      each member's range, the active version and nothing to raise (the reason naming member 2),
#      and a supervisor's certificate gets 403 on both routes (admin only);
#   2. node 2 restarts on callraftd-rules2 and declares 1..2, then is stopped; a client starts
#      writing through nodes 1 and 3 (until step 3 ends); GET /v1/rules shows 2 upgradable;
#      POST /v1/rules/upgrade (no body) is accepted (every member declared 1..2), nodes 1 and 3
#      report active version 2, and the same POST again, and `rules upgrade 2`, answer OK
#      "already active" (a retry changes nothing);
#   3. node 2 comes back on the ordinary callraftd (a node downgraded, or a package not installed
#      on it): it must stop at the RulesSet entry with exit 76 and a rules_stop line naming the
#      versions, instead of applying it, and again on a second start; nodes 1 and 3 keep
#      acknowledging writes;
#   4. node 2 restarts on callraftd-rules2 (the fix the line names): it applies the entry, catches
#      up and reports version 2; every acknowledged write is on every node exactly once.
source "$(dirname "$0")/lib.sh"
step() { echo "--- [${SECONDS}s] $*"; } # the seconds since the start: where a slow run spent them

source "$(dirname "$0")/rules_lib.sh"

step "start a 1+1+1 cluster: nodes 1 and 3 declare rules 1..2, node 2 declares 1..1"
"$CLUSTER_SH" config 1+1+1 >/dev/null
start_node 1 "$full"
start_node 2 "$narrow"
start_node 3 "$full"
wait_leader >/dev/null
wait_ranges "1:1..2 2:1..1 3:1..2 active=1"

step "rules upgrade 2 is refused while node 2 can apply 1..1 only"
rc=0
out=$("$CLI" --cluster "$(cluster)" rules upgrade 2 2>&1) || rc=$?
echo "$out"
[ $rc = 1 ] || fail "rules upgrade 2 exited $rc, want 1 (refused)"
grep -q "member 2 can apply rules versions 1..1, not 2" <<<"$out" || fail "the refusal does not name member 2's range"
out=$("$CLI" --cluster "$(cluster)" rules upgrade 2>&1) || fail "rules upgrade (no version): $out"
grep -q "rules version 1 is already active" <<<"$out" || fail "rules upgrade without N: '$out'"
wait_ranges "1:1..2 2:1..1 3:1..2 active=1"

step "over HTTP: the same refusal, the rules status, and admin only"
read -r st body < <(http POST /v1/rules/upgrade '{"version": 2}')
echo "POST /v1/rules/upgrade {version: 2}: $st $body"
[ "$st" = 409 ] || fail "POST /v1/rules/upgrade 2 answered $st, want 409"
[ "$(field "$body" 'd["code"]')" = BAD_STATE ] || fail "POST /v1/rules/upgrade 2: code is not BAD_STATE"
grep -q "member 2 can apply rules versions 1..1, not 2" <<<"$body" || fail "the HTTP refusal does not name member 2's range"
read -r st body < <(http GET /v1/rules)
echo "GET /v1/rules: $st $body"
[ "$st" = 200 ] || fail "GET /v1/rules answered $st"
[ "$(field "$body" '" ".join("%d:%d..%d" % (m["id"], m["rules_oldest"], m["rules_newest"]) for m in d["members"])')" = "1:1..2 2:1..1 3:1..2" ] ||
  fail "GET /v1/rules: the members' ranges are wrong"
[ "$(field "$body" 'd["rules_active"], d.get("rules_upgradable", 0)')" = "(1, 1)" ] ||
  fail "GET /v1/rules: want active 1, upgradable 1 (the newest all hold)"
read -r st body < <(as_supervisor http POST /v1/rules/upgrade '{"version": 2}')
[ "$st" = 403 ] || fail "a supervisor's POST /v1/rules/upgrade answered $st, want 403"
[ "$(field "$body" 'd["code"]')" = PERMISSION_DENIED ] || fail "a supervisor's POST: code is not PERMISSION_DENIED"
read -r st body < <(as_supervisor http GET /v1/rules)
[ "$st" = 403 ] || fail "a supervisor's GET /v1/rules answered $st, want 403"
wait_ranges "1:1..2 2:1..1 3:1..2 active=1"
for id in 1 2 3; do [ "$(active_of "$id")" = 1 ] || fail "node $id reports active $(active_of "$id")"; done

step "node 2 restarts on callraftd-rules2 and declares 1..2; stopped, the upgrade is accepted"
stop_node 2
start_node 2 "$full"
wait_ranges "1:1..2 2:1..2 3:1..2 active=1"
stop_node 2
ack=$lab/acks
"$TRAFFIC" write --cluster "$(client_addr 1),$(client_addr 3)" --ack-file "$ack" --clients 1 --duration 120 > "$lab/write.out" &
writer=$!
wait_acks "$ack" 10
read -r st body < <(http GET /v1/rules)
[ "$(field "$body" 'd["rules_active"], d.get("rules_upgradable", 0)')" = "(1, 2)" ] ||
  fail "GET /v1/rules: $st $body: want active 1, upgradable 2"
read -r st body < <(http POST /v1/rules/upgrade)
echo "POST /v1/rules/upgrade: $st $body"
[ "$st" = 200 ] || fail "POST /v1/rules/upgrade refused once every member declares 1..2"
wait_ranges "1:1..2 2:1..2 3:1..2 active=2"
read -r st body < <(http POST /v1/rules/upgrade)
[ "$st" = 200 ] && grep -q "rules version 2 is already active" <<<"$body" ||
  fail "POST /v1/rules/upgrade again: $st $body: want 200, already active"
"$CLI" --cluster "$(client_addr 1),$(client_addr 3)" rules upgrade 2 | grep "rules version 2 is already active" ||
  fail "rules upgrade 2 after the upgrade: not 'already active'"
for id in 1 3; do [ "$(active_of "$id")" = 2 ] || fail "node $id reports active $(active_of "$id"), want 2"; done
"$CLI" --cluster "$(client_addr 1),$(client_addr 3)" status | grep "rules: active version 2" ||
  fail "status does not show active version 2"

step "node 2 comes back on the ordinary callraftd (1..1): it stops at the RulesSet entry"
stop_ms=$(date +%s%3N)
for attempt in 1 2; do
  start_node 2 "$narrow"
  deadline=$((SECONDS + 30))
  until [ -s "$lab/exit.2" ]; do [ $SECONDS -lt $deadline ] || fail "node 2 (1..1) still runs at active version 2"; sleep 0.2; done
  [ "$(cat "$lab/exit.2")" = 76 ] || fail "node 2 exited $(cat "$lab/exit.2"), want 76 (CALLRAFT_EXIT_RULES)"
  echo "start $attempt: node 2 exited 76"
done
grep -E "rules_stop" "$lab/node2/log" | tail -n 1
grep -qE "\(rules_set\) needs rules version 2 and this binary applies versions 1\.\.1: install a binary that applies version 2 on this node" "$lab/node2/log" ||
  fail "node 2's log has no rules_stop line naming the entry and the versions"
for id in 1 3; do [ "$(active_of "$id")" = 2 ] || fail "node $id reports active $(active_of "$id"), want 2"; done
stop_writes "$writer" "$ack" "$stop_ms" # 20 more acknowledged by nodes 1 and 3 meanwhile
acked=$(wc -l < "$ack")
echo "acknowledged=$acked"

step "node 2 restarts on callraftd-rules2: it applies the entry and catches up"
start_node 2 "$full"
wait_caught_up 1 2 3
[ "$(active_of 2)" = 2 ] || fail "node 2 reports active $(active_of 2), want 2"

step "verify: every acknowledged write exactly once on every node"
"$TRAFFIC" verify --nodes "$(cluster)" --ack-file "$ack" --expect-total "$acked"
echo "PASS"
