#!/usr/bin/env bash
# docs/routing.md works as written: every ```sh block of it (section 10, the seeds' examples: a
# Tehran caller answered from Shiraz after 30 s, a diamond customer, a caller asking for the same
# agent, a night voicemail called back at 07:00), in order, run with bash -euo pipefail against a
# fresh 1+1+1 cluster over mutual TLS with the admin certificate, from the repository root (for
# its deploy/cluster.sh). A failing command or a failing `grep -q` check of a block fails the test.
# About 45 s: one example waits the queue's 30 s overflow delay on purpose.
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null

step "run docs/routing.md's sh blocks"
script=$CALLRAFT_LAB/routing.sh
{
  echo "set -euo pipefail"
  awk '/^```sh$/ {on=1; next} /^```/ {on=0} on' "$ROOT/docs/routing.md"
} > "$script"
blocks=$(grep -c '^```sh$' "$ROOT/docs/routing.md")
[ "$blocks" -ge 5 ] || fail "only $blocks sh blocks in docs/routing.md"
for word in "customer set" "call next" "callback voicemail" "customer history" "sleep 30"; do
  grep -q "$word" "$script" || fail "docs/routing.md no longer runs '$word'"
done
(cd "$ROOT" && PATH=$BUILD:$PATH timeout 300 bash "$script") > "$CALLRAFT_LAB/routing.out" 2>&1 || {
  tail -n 30 "$CALLRAFT_LAB/routing.out" >&2
  fail "a command or check of docs/routing.md failed"
}
tail -n 8 "$CALLRAFT_LAB/routing.out"
grep -q "^call 'pbx-t1' answered by agent 's1'" "$CALLRAFT_LAB/routing.out" ||
  fail "the overflow example did not end with Shiraz answering"
grep -q "^call 'pbx-r1' ended" "$CALLRAFT_LAB/routing.out" || fail "the same-agent example did not end"
echo "$blocks blocks ran"
echo "PASS"
