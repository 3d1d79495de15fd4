#!/usr/bin/env bash
# docs/integrate.md works as written: every ```sh block of it, in order, run with bash -e against a
# real 1+1+1 cluster (CALLRAFT_HTTP = node 1's HTTP address, a follower or the leader), every curl
# with --fail: an answer other than 2xx fails the test. A fourth node is started first for the
# membership examples.
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster and a fourth, empty node"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null
"$CLUSTER_SH" new 4 shiraz >/dev/null

step "run docs/integrate.md's sh blocks"
script=$CALLRAFT_LAB/integrate.sh
{
  echo "set -euo pipefail"
  awk '/^```sh$/ {on=1; next} /^```/ {on=0} on' "$ROOT/docs/integrate.md"
} > "$script"
blocks=$(grep -c '^```sh$' "$ROOT/docs/integrate.md")
[ "$blocks" -ge 10 ] || fail "only $blocks sh blocks in docs/integrate.md"
export CALLRAFT_HTTP=http://127.0.0.1:$((CALLRAFT_PORT_BASE + 201))
export PORT4_RAFT=$((CALLRAFT_PORT_BASE + 4)) PORT4_CLIENT=$((CALLRAFT_PORT_BASE + 104))
export PORT4_HTTP=$((CALLRAFT_PORT_BASE + 204))
# The cluster has just elected its leader: wait until node 1 knows the leader's address.
for _ in $(seq 1 50); do
  curl -fsS "$CALLRAFT_HTTP/v1/members" >/dev/null 2>&1 && break
  sleep 0.2
done
bash "$script" > "$CALLRAFT_LAB/integrate.out" 2>&1 || {
  tail -n 20 "$CALLRAFT_LAB/integrate.out" >&2
  fail "a command of docs/integrate.md failed"
}
echo "$blocks blocks, $(grep -c '^{"code":"OK"' "$CALLRAFT_LAB/integrate.out") answers OK"
grep -q '"code":"OK"' "$CALLRAFT_LAB/integrate.out" || fail "no answer seen"
"$CLUSTER_SH" kill 4 >/dev/null
echo "PASS"
