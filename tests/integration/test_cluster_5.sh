#!/usr/bin/env bash
# A 5-node cluster laid out as 2+2+1 sites (Tehran, Shiraz, witness):
#   - writes while the leader is killed with SIGKILL: every acknowledged write exactly once everywhere
#   - a killed follower restarts and catches up
#   - a new node joins with `members add`, is promoted to voter and holds the same data
#   - leadership transfer to a chosen node, and membership removal
#   - bad input to a running node is refused with a clear error and changes nothing
#   - snapshots every 64 entries (taken off the loop thread, repl.c), so the restarted node restores
#     its own snapshot and the new node catches up by InstallSnapshot, not from the whole log
source "$(dirname "$0")/lib.sh"
export CALLRAFT_SNAPSHOT_THRESHOLD=64 CALLRAFT_SNAPSHOT_TRAILING=64

step "start a 2+2+1 cluster"
"$CLUSTER_SH" up 2+2+1 >/dev/null
leader=$(wait_leader)
"$CLI" --cluster "$(cluster)" status

step "operations through a follower (forwarding) and exactly-once by call id"
follower=$(( leader == 1 ? 2 : 1 ))
F=$(client_addr $follower)
"$CLI" --cluster "$F" agent login ag-1 --site tehran --skills sales,roadside
"$CLI" --cluster "$F" call enqueue --call-id pbx-1 --queue sales --caller +982100000001 --customer cu-1 --tier gold --site tehran
"$CLI" --cluster "$F" call enqueue --call-id pbx-1 --queue sales --caller +982100000001 --customer cu-1 --tier gold --site tehran
n=$("$CLI" --cluster "$F" --json queue show sales | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[ "$n" = 1 ] || fail "the same PBX call id enqueued twice gave $n queued calls"
"$CLI" --cluster "$F" --json call next --agent ag-1 > "$CALLRAFT_LAB/next.json"
token=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["call"]; print("%d.%d"%(c["offer_term"],c["offer_index"]))' "$CALLRAFT_LAB/next.json")
"$CLI" --cluster "$F" call answer pbx-1 --agent ag-1 --token "$token"
"$CLI" --cluster "$F" call end pbx-1 --agent ag-1
code=$("$CLI" --cluster "$F" --json ticket open --customer cu-1 --category complaint-passenger --call pbx-1 --subject "late delivery" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ticket"]["code"])')
"$CLI" --cluster "$F" ticket update "$code" --status in-progress --note "called the dealer"
"$CLI" --cluster "$F" ticket show "$code" | tee "$CALLRAFT_LAB/show.txt"
grep -q '^class: *follow-up$' "$CALLRAFT_LAB/show.txt" || fail "ticket show does not show the class"
grep -q '^target: .*(72h00m after opening)$' "$CALLRAFT_LAB/show.txt" || fail "ticket show does not show the target"
# read back over the phone: lower case, O for 0, I/L for 1
typed=$(printf '%s' "$code" | tr 'A-Z01' 'a-zol')
"$CLI" --cluster "$F" ticket show "$typed" | grep -q "^ticket: *$code\$" || fail "ticket show $typed did not find $code"

step "bad input: clear errors, exit codes, nothing stored changes"
before=$("$CLI" --cluster "$(cluster)" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])')
set +e
"$CLI" --cluster "$F" call enqueue --call-id "" --queue sales --caller 1 2>"$CALLRAFT_LAB/err1"; rc1=$?
"$CLI" --cluster "$F" call answer pbx-1 --agent ag-1 --token 1.1 2>"$CALLRAFT_LAB/err2"; rc2=$?
"$CLI" --cluster "$F" ticket show T0000Z 2>"$CALLRAFT_LAB/err3"; rc3=$?
set -e
cat "$CALLRAFT_LAB"/err1 "$CALLRAFT_LAB"/err2 "$CALLRAFT_LAB"/err3
[ $rc1 = 2 ] || fail "an empty call id should exit 2, got $rc1"
[ $rc2 != 0 ] || fail "answering an ended call should fail"
[ $rc3 != 0 ] || fail "an unknown ticket should fail"
# Raw garbage on the client port: a clear BAD_FRAME and the node keeps serving.
python3 - "$F" <<'PY'
import os, socket, ssl, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
if os.environ.get("CALLRAFT_TLS_CA"):  # the garbage goes inside an authenticated TLS session
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.environ["CALLRAFT_TLS_CA"])
    ctx.load_cert_chain(os.environ["CALLRAFT_TLS_CERT"], os.environ["CALLRAFT_TLS_KEY"])
    s = ctx.wrap_socket(s, server_hostname=host)
s.sendall(struct.pack(">I", 5) + b"\xff\xff\xff\xff\xff")
hdr = s.recv(4); n = struct.unpack(">I", hdr)[0]; body = b""
while len(body) < n: body += s.recv(n - len(body))
assert b"not a valid Request" in body, body
s.sendall(struct.pack(">I", 100 * 1024 * 1024))
hdr = s.recv(4); n = struct.unpack(">I", hdr)[0]; body = b""
while len(body) < n: body += s.recv(n - len(body))
assert b"exceeds the limit" in body, body
print("garbage frames refused:", body[-60:])
PY
"$CLI" --cluster "$F" --json status >/dev/null || fail "node stopped serving after bad frames"

step "writes while the leader is SIGKILLed"
ack=$CALLRAFT_LAB/acks
"$TRAFFIC" write --cluster "$(cluster)" --ack-file "$ack" --clients 8 --duration 60 > "$CALLRAFT_LAB/write.out" &
writer=$!
wait_acks "$ack" 20
kill_ms=$(date +%s%3N)
"$CLUSTER_SH" kill "$leader" KILL
new_leader=$(wait_leader "$leader")
stop_writes "$writer" "$ack" "$kill_ms" # 20 more acknowledged after the kill, then stop
cat "$CALLRAFT_LAB/write.out"
first_after=$(awk -v k="$kill_ms" '$1 > k {print $1; exit}' "$ack")
gap=$(service_gap "$ack" "$kill_ms")
[ -n "$first_after" ] || fail "no write acknowledged after the kill"
echo "leader $leader killed; new leader $new_leader; service gap around the SIGKILL: $gap"

step "the killed node restarts and catches up"
"$CLUSTER_SH" start "$leader" >/dev/null
wait_caught_up 1 2 3 4 5
acked=$(wc -l < "$ack")
"$TRAFFIC" verify --nodes "$(cluster)" --ack-file "$ack" --expect-total "$acked"

step "a new node (6, shiraz) joins with members add and is promoted to voter"
# Every node snapshots now, past the first 64 entries, so whichever is leader when node 6 joins has
# compacted entry 1 away (trailing 64) and must send InstallSnapshot: with the automatic snapshots
# only, whether the log still starts at 1 depends on how many Ticks the run took.
for i in 1 2 3 4 5; do "$CLI" --cluster "$(client_addr $i)" snapshot >/dev/null; done
deadline=$((SECONDS + 30))
for i in 1 2 3 4 5; do
  until grep -o "snapshot at index [0-9]*" "$CALLRAFT_LAB/node$i/log" | awk '$4 > 65 {f=1} END {exit !f}'; do
    [ $SECONDS -lt $deadline ] || fail "node $i took no snapshot past index 65"
    sleep 0.2
  done
done
"$CLUSTER_SH" new 6 shiraz >/dev/null
"$CLI" --cluster "$(cluster)" members add 6 --site shiraz --raft-address 127.0.0.1:$((CALLRAFT_PORT_BASE + 6)) --client-address "$(client_addr 6)"
"$CLI" --cluster "$(cluster)" members assign 6 voter
role=$("$CLI" --cluster "$(cluster)" --json members list | python3 -c 'import json,sys; print([m["role"] for m in json.load(sys.stdin)["members"] if m["id"]==6][0])')
[ "$role" = voter ] || fail "node 6 is $role, not voter"
wait_caught_up 6
"$TRAFFIC" verify --nodes "$(client_addr 6)" --ack-file "$ack" --expect-total "$acked"
snaps=$(cat "$CALLRAFT_LAB"/node[1-5]/log | grep -c "snapshot at index" || true)
[ "$snaps" -gt 0 ] || fail "no node logged a snapshot"
out=$("$CLI" --cluster "$(client_addr 2)" snapshot)
echo "$out"
echo "$out" | grep -q "^node 2: snapshot at index [0-9]*: .* MB, copied in" ||
  fail "callraft snapshot on node 2 did not report a snapshot"
grep -q "snapshot restored" "$CALLRAFT_LAB"/node6/log ||
  fail "node 6 did not catch up by InstallSnapshot"
echo "$snaps snapshots logged by nodes 1-5; node 6: $(grep -h "snapshot restored" "$CALLRAFT_LAB"/node6/log | head -1)"

step "leadership transfer to node 6, then remove node 6"
"$CLI" --cluster "$(cluster)" members transfer 6
deadline=$((SECONDS + 15))
until [ "$(leader_id)" = 6 ]; do [ $SECONDS -lt $deadline ] || fail "node 6 did not become leader"; sleep 0.2; done
"$CLI" --cluster "$(cluster)" members transfer 3
deadline=$((SECONDS + 15))
until [ "$(leader_id)" = 3 ]; do [ $SECONDS -lt $deadline ] || fail "node 3 did not become leader"; sleep 0.2; done
"$CLI" --cluster "$(cluster)" members remove 6
n=$("$CLI" --cluster "$(cluster)" --json members list | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin)["members"] if m["id"]==6))')
[ "$n" = 0 ] || fail "node 6 still listed after remove"
"$CLI" --cluster "$(cluster)" status
echo "PASS"
