#!/usr/bin/env bash
# IPv6 for every address (issue 13): a 1+1+1 cluster whose raft, client and HTTP addresses are all
# [::1]:port, with mutual TLS (the node certificates name ::1 in an IP SAN):
#   1. every listener is on ::1; the members elect a leader over IPv6 and TLS;
#   2. a write through a follower (the forward link over IPv6), a read over HTTPS on [::1];
#   3. the leader killed: a new one is elected over IPv6 and serves;
#   4. a member certificate whose SANs do not name ::1 claiming a member's [::1] address is refused
#      (the SAN check for IPv6 literals), the term unchanged;
#   5. a member addressed by name: node 4 at localhost:port with a certificate whose only SAN is
#      DNS:localhost joins as a standby, and raft replicates to it both ways (the DNS SAN matched against the
#      name on the leader's outgoing and incoming links); a certificate for member 4 naming only
#      IP addresses, claiming localhost:port, is refused.
source "$(dirname "$0")/lib.sh"
export CALLRAFT_HOST=::1
ATTACK="python3 $(dirname "$0")/tls_attack.py"
raft6() { echo "[::1]:$((CALLRAFT_PORT_BASE + $1))"; }
client6() { echo "[::1]:$((CALLRAFT_PORT_BASE + 100 + $1))"; }
http6() { echo "[::1]:$((CALLRAFT_PORT_BASE + 200 + $1))"; }
# forged_vote_refused TO ID ADDR SANS HOST LOG WHAT: a RequestVote to the raft address TO from
# member ID claiming address ADDR, over TLS with a certificate for member ID whose SANs are only
# SANS (issued by the lab's CA into a directory of its own): the node logs (LOG) that the
# certificate does not name HOST, else the test fails with WHAT; raft's term is unchanged.
forged_vote_refused() {
  local to=$1 id=$2 addr=$3 sans=$4 host=$5 log=$6 what=$7 dir term out t2
  dir=$CALLRAFT_LAB/forged-$id-${sans//[^0-9a-z]/_}
  mkdir -p "$dir" && cp "$CALLRAFT_LAB/certs/ca.crt" "$CALLRAFT_LAB/certs/ca.key" "$dir/"
  "$ROOT/deploy/certs.sh" issue "$dir" node "$id" "$sans" >/dev/null
  term=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["term"])')
  out=$($ATTACK raft "$to" "$id" "$addr" $((term + 100)) \
    --cert "$dir/node$id.crt" --key "$dir/node$id.key")
  echo "  node: $out"
  sleep 1
  grep -q "certificate 'node-$id' does not name host '$host'" "$log" || fail "$what"
  grep "does not name host '$host'" "$log" | head -1 | sed 's/^.*msg=/  log: /'
  t2=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["term"])')
  [ "$t2" -lt $((term + 100)) ] || fail "the forged RequestVote reached raft (term $term -> $t2)"
}
python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' ||
  fail "this machine has no IPv6 loopback (::1): the test needs it"

step "1. a 1+1+1 cluster on [::1]"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
"$CLUSTER_SH" status | head -5
for i in 1 2 3; do
  for p in $((CALLRAFT_PORT_BASE + i)) $((CALLRAFT_PORT_BASE + 100 + i)) $((CALLRAFT_PORT_BASE + 200 + i)); do
    ss -ltnH "sport = :$p" | grep -q "\[::1\]:$p" || fail "port $p is not listening on [::1]: $(ss -ltnH "sport = :$p")"
  done
done
echo "  raft, client and HTTP listeners of all three nodes are on [::1]"
grep -q "peer to member .* at '\[::1\]:[0-9]*': TLS up" "$CALLRAFT_LAB/node$leader/log" || fail "no TLS peer link over IPv6 in the leader's log"

step "2. a write through a follower, a read over HTTPS"
follower=1; [ "$follower" = "$leader" ] && follower=2
"$CLI" --cluster "$(client6 "$follower")" call enqueue --call-id v6-1 --queue sales --caller 100 --site tehran
state=$("$CLI" --cluster "$(client6 "$leader")" --json call show v6-1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["call"]["state"])')
[ "$state" = waiting ] || fail "the call written through a follower is '$state'"
PYTHONPATH="$(dirname "$0")" python3 - "$(http6 "$follower")" <<'PY'
import sys
from http_lib import call
st, _, doc = call(sys.argv[1], "GET", "/v1/calls/v6-1")
assert st == 200 and doc["call"]["call_id"] == "v6-1", (st, doc)
print("  GET https://%s/v1/calls/v6-1: 200" % sys.argv[1])
PY

step "3. the leader killed: a new one over IPv6"
"$CLUSTER_SH" kill "$leader" >/dev/null
new=$(wait_leader "$leader")
echo "  leader $leader -> $new"
"$CLI" --cluster "$(cluster)" call enqueue --call-id v6-2 --queue sales --caller 101 --site tehran >/dev/null ||
  fail "the new leader does not serve"
"$CLUSTER_SH" start "$leader" >/dev/null

step "4. a certificate without ::1 claiming a member's [::1] address"
victim=1; [ "$victim" = "$new" ] && victim=2
forged_vote_refused "$(raft6 "$new")" "$victim" "$(raft6 "$victim")" 127.0.0.1 ::1 \
  "$CALLRAFT_LAB/node$new/log" "a certificate without ::1 was not refused for the [::1] address"

step "5. a member addressed by name (a DNS SAN)"
p4=$((CALLRAFT_PORT_BASE + 4)); c4=$((CALLRAFT_PORT_BASE + 104))
"$ROOT/deploy/certs.sh" issue "$CALLRAFT_LAB/certs" node 4 localhost >/dev/null # DNS:localhost only
openssl x509 -in "$CALLRAFT_LAB/certs/node4.crt" -noout -ext subjectAltName | tail -1 | sed 's/^ */  node 4 SANs: /'
CALLRAFT_HOST=localhost "$CLUSTER_SH" new 4 shiraz >/dev/null
"$CLI" --cluster "$(cluster)" members add 4 --site shiraz --raft-address "localhost:$p4" \
  --client-address "localhost:$c4" >/dev/null || fail "members add 4 at localhost failed"
"$CLI" --cluster "$(cluster)" members assign 4 standby >/dev/null || fail "members assign 4 standby failed"
"$CLI" --cluster "$(cluster)" call enqueue --call-id name-1 --queue sales --caller 102 --site tehran >/dev/null
leader=$(wait_leader)
target=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])')
for _ in $(seq 1 40); do
  a4=$("$CLI" --cluster "localhost:$c4" --timeout 1000 --json status 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(next((m.get("applied_index",0) for m in d["members"] if m["id"]==d["answered_by"]), 0))' 2>/dev/null || echo 0)
  [ "${a4:-0}" -ge "$target" ] && break
  sleep 0.5
done
[ "${a4:-0}" -ge "$target" ] || fail "node 4 at localhost did not catch up ($a4 < $target)"
echo "  node 4 at localhost:$p4 applied $a4 (commit index $target)"
llog=$CALLRAFT_LAB/node$leader/log
grep -q "peer to member 4 at 'localhost:$p4': TLS up" "$llog" || fail "no outgoing link to member 4 by name in $llog"
grep -q "peer from member 4 at 'localhost:$p4': TLS up" "$llog" || fail "no incoming link from member 4 by name in $llog"
grep "member 4 at 'localhost:$p4': TLS up" "$llog" | sed 's/^.*msg=/  log: /' | head -2
forged_vote_refused "$(raft6 "$leader")" 4 "localhost:$p4" 127.0.0.1,::1 localhost "$llog" \
  "a certificate naming only IP addresses was not refused for the name localhost"
echo "PASS"
