#!/usr/bin/env bash
# FSM rules versions and a spare (node/rules.c, "Spares"; docs/operations.md "Rolling upgrade").
# Raft sends a spare nothing, so a spare knows no leader to declare to: the gate still counts it
# (apply's pair check walks every member record) and names it with what to do. A 1+1+1 cluster on
# callraftd-rules2 (1..2) and a fourth node:
#   1. node 4 (the ordinary callraftd, 1..1) joins as a spare: `rules upgrade 2` and `rules
#      upgrade` are refused naming member 4 as a spare that has not declared; GET /v1/rules says
#      the same (rules_upgradable 0);
#   2. assigned standby it declares 1..1; demoted to spare, its range stays recorded: `rules
#      upgrade 2` is refused naming the spare's 1..1, GET /v1/rules shows 1 as upgradable;
#   3. node 4 restarts on callraftd-rules2 while a spare: it cannot declare 1..2 (still 1..1
#      recorded); assigned standby it declares 1..2; demoted again, no RulesDeclare entry for it
#      is appended over 5 s (no stream from a spare), and its 1..2 stays recorded;
#   4. ticket_class_configure, which callraftd-rules2 applies only from version 2, is refused by
#      the leader (BAD_STATE, nothing appended) while version 1 is active;
#   5. the upgrade is accepted with the spare in the configuration, and ticket_class_configure
#      then too; assigned standby again, node 4 applies both and reports active version 2.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/rules_lib.sh"
step() { echo "--- [${SECONDS}s] $*"; }
c13="$(client_addr 1),$(client_addr 3)"
# assign ID ROLE: the member's new role, retried while a membership change is in flight.
assign() {
  local deadline=$((SECONDS + 30))
  until "$CLI" --cluster "$c13" members assign "$1" "$2" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "members assign $1 $2 refused for 30 s"
    sleep 0.3
  done
}
# refused WANT [N]: `rules upgrade [N]` exits 1 with a message holding WANT.
refused() {
  local rc=0 out
  out=$("$CLI" --cluster "$c13" rules upgrade ${2:-} 2>&1) || rc=$?
  echo "rules upgrade ${2:-}: $out"
  [ $rc = 1 ] || fail "rules upgrade ${2:-} exited $rc, want 1 (refused)"
  grep -qF "$1" <<<"$out" || fail "the refusal does not say '$1'"
}
declares4() { cat "$lab"/node*/log | grep -c "event=rules_declare member=4 " || true; }

step "a 1+1+1 cluster on callraftd-rules2; node 4 (callraftd, 1..1) joins as a spare"
"$CLUSTER_SH" config 1+1+1 >/dev/null
for id in 1 2 3; do start_node "$id" "$full"; done
wait_leader >/dev/null
wait_ranges "1:1..2 2:1..2 3:1..2 active=1"
"$CLUSTER_SH" new 4 shiraz >/dev/null
"$CLUSTER_SH" kill 4 TERM >/dev/null
start_node 4 "$narrow"
"$CLI" --cluster "$c13" members add 4 --site shiraz --raft-address "127.0.0.1:$((CALLRAFT_PORT_BASE + 4))" \
  --client-address "$(client_addr 4)"
sleep 3 # a spare that could declare would have by now (one declaration a second)
wait_ranges "1:1..2 2:1..2 3:1..2 4:0..0 active=1"
refused "member 4 is a spare and has not declared the rules versions it can apply" 2
refused "member 4 is a spare and has not declared"
read -r st body < <(http GET /v1/rules)
echo "GET /v1/rules: $st $(field "$body" 'd.get("rules_upgradable", 0), d.get("message")')"
[ "$(field "$body" 'd["rules_active"], d.get("rules_upgradable", 0)')" = "(1, 0)" ] || fail "GET /v1/rules: want active 1, upgradable 0"
grep -q "member 4 is a spare and has not declared" <<<"$body" || fail "GET /v1/rules does not name the spare"

step "assigned standby, node 4 declares 1..1; a spare again, its range stays recorded"
assign 4 standby
wait_ranges "1:1..2 2:1..2 3:1..2 4:1..1 active=1"
assign 4 spare
refused "member 4 is a spare that can apply rules versions 1..1, not 2" 2
read -r st body < <(http GET /v1/rules)
[ "$(field "$body" 'd["rules_active"], d.get("rules_upgradable", 0)')" = "(1, 1)" ] || fail "GET /v1/rules: $body: want active 1, upgradable 1"

step "node 4 restarts on callraftd-rules2 while a spare: it cannot declare until it is a standby"
stop_node 4
start_node 4 "$full"
sleep 3
wait_ranges "1:1..2 2:1..2 3:1..2 4:1..1 active=1"
assign 4 standby
wait_ranges "1:1..2 2:1..2 3:1..2 4:1..2 active=1"
assign 4 spare
before=$(declares4)
sleep 5
after=$(declares4)
echo "RulesDeclare entries for member 4: $before, 5 s later $after"
[ "$after" = "$before" ] || fail "RulesDeclare entries for spare 4 go on being appended ($before, then $after)"
wait_ranges "1:1..2 2:1..2 3:1..2 4:1..2 active=1"
"$CLI" --cluster "$c13" members list | grep -E "^4 +shiraz +spare" || fail "member 4 is not a spare"

step "an operation that needs version 2 is refused by the leader while version 1 is active"
# callraftd-rules2 applies ticket_class_configure only from version 2 (tests/faults/rules2.c).
rc=0
out=$("$CLI" --cluster "$c13" ticket class-set billing --target 60m 2>&1) || rc=$?
echo "ticket class-set: $out"
[ $rc = 1 ] || fail "ticket class-set at version 1 exited $rc, want 1 (refused)"
grep -q "BAD_STATE: ticket_class_configure: needs rules version 2, the cluster's active version is 1: upgrade every member" <<<"$out" ||
  fail "ticket class-set at version 1: not the leader's refusal"
! "$CLI" --cluster "$c13" --json ticket classes billing 2>&1 | grep -q '"target_ms": *3600000' ||
  fail "ticket class billing has the 60 m target at version 1"

step "the upgrade is accepted with the spare; the operation then too; a standby again, node 4 applies both"
"$CLI" --cluster "$c13" rules upgrade 2 || fail "rules upgrade 2 refused though every member, the spare too, declares 1..2"
wait_ranges "1:1..2 2:1..2 3:1..2 4:1..2 active=2"
"$CLI" --cluster "$c13" ticket class-set billing --target 60m || fail "ticket class-set refused at version 2"
assign 4 standby
deadline=$((SECONDS + 30))
until [ "$(active_of 4 2>/dev/null)" = 2 ]; do
  [ $SECONDS -lt $deadline ] || fail "node 4 reports active $(active_of 4), want 2"
  sleep 0.3
done
[ ! -s "$lab/exit.4" ] || fail "node 4 exited $(cat "$lab/exit.4")"
deadline=$((SECONDS + 30))
until "$CLI" --cluster "$(client_addr 4)" --stale --json ticket classes billing 2>/dev/null | grep -q '"target_ms": *3600000'; do
  [ $SECONDS -lt $deadline ] || fail "node 4 does not show ticket class billing's 60 m target"
  sleep 0.3
done
echo "PASS"
