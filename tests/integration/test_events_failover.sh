#!/usr/bin/env bash
# The event stream through a failover (issue #14 item 3), on a 1+1+1 cluster of real processes.
# Two subscribers follow the stream from index 1 on the leader while four sessions write tickets:
# `callraft events --follow` (binary protocol, long polls from its cursor) and an EventSource-like
# Server-Sent Events client (GET /v1/events, tests/integration/sse_follow.py). The leader is
# SIGKILLed mid-stream; each subscriber moves to another node and resumes there (the CLI from its
# cursor, the SSE client with Last-Event-ID). Afterwards each has seen every event exactly once, in
# log order, with no gap: its stream equals a full read from a surviving node, and every
# acknowledged ticket is in it as TICKET_OPENED once.
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
others=$(for i in 1 2 3; do [ "$i" = "$leader" ] || printf '%s,' "$(client_addr "$i")"; done)
sub_cluster="$(client_addr "$leader"),${others%,}" # the leader first: the subscriber starts there
http_addr() { echo "127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + $1))"; }
sse_nodes=$(http_addr "$leader"); for i in 1 2 3; do [ "$i" = "$leader" ] || sse_nodes="$sse_nodes,$(http_addr "$i")"; done
echo "leader: $leader; subscriber's cluster list: $sub_cluster; SSE: $sse_nodes"

step "subscribe from index 1 on the leader; write (10 s at most); SIGKILL the leader once both follow and writes are acknowledged"
sub=$CALLRAFT_LAB/sub.jsonl
"$CLI" --cluster "$sub_cluster" --timeout 20000 --json events --from 1 --follow > "$sub" \
  2> "$CALLRAFT_LAB/sub.err" &
subscriber=$!
sse=$CALLRAFT_LAB/sse.jsonl
python3 "$(dirname "$0")/sse_follow.py" "$sse_nodes" "/v1/events?from=1" "$sse" 2> "$CALLRAFT_LAB/sse.err" &
sse_pid=$!
ack=$CALLRAFT_LAB/acks
"$TRAFFIC" write --cluster "$(cluster)" --ack-file "$ack" --clients 4 --duration 10 \
  > "$CALLRAFT_LAB/write.out" &
writer=$!
# The kill comes once both subscribers have events and writes are being acknowledged (not after a
# fixed 3 s: on a loaded machine the Python subscriber alone can take that long to start).
deadline=$((SECONDS + 30))
until [ -s "$sub" ] && [ -s "$sse" ] && [ "$(wc -l 2>/dev/null < "$ack" || echo 0)" -ge 20 ]; do
  [ $SECONDS -lt $deadline ] ||
    fail "30 s after the start: $(wc -l < "$sub") (binary) and $(wc -l < "$sse") (SSE) events, $(wc -l 2>/dev/null < "$ack" || echo 0) acks"
  sleep 0.2
done
before_kill=$(wc -l < "$sub"); sse_before_kill=$(wc -l < "$sse")
kill_ms=$(date +%s%3N)
"$CLUSTER_SH" kill "$leader" KILL
new_leader=$(wait_leader "$leader")
echo "new leader: $new_leader; at the kill the subscribers had $before_kill (binary) and $sse_before_kill (SSE) events"
# The writer ends once 20 writes are acknowledged after the kill (lib.sh), not at its --duration.
stop_writes "$writer" "$ack" "$kill_ms"
cat "$CALLRAFT_LAB/write.out"
[ "$(wc -l < "$ack")" -gt 0 ] || fail "no write was acknowledged"

step "the subscriber catches up with a surviving node, then stops"
ref=$CALLRAFT_LAB/ref.jsonl
survivor=$(client_addr "$new_leader")
read_all() { # the whole stream from one node, page by page
  local from=1 out
  : > "$ref"
  while :; do
    out=$("$CLI" --cluster "$survivor" --json events --from "$from" --limit 1000)
    printf '%s\n' "$out" | grep -v '"next"' >> "$ref" || true
    next=$(printf '%s\n' "$out" | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')
    [ "$(printf '%s\n' "$out" | wc -l)" -le 1 ] && break
    from=$next
  done
}
deadline=$((SECONDS + 60))
while :; do
  read_all
  [ "$(wc -l < "$sub")" -ge "$(wc -l < "$ref")" ] && [ "$(wc -l < "$sse")" -ge "$(wc -l < "$ref")" ] && break
  [ $SECONDS -lt $deadline ] ||
    fail "subscribers stuck at $(wc -l < "$sub") (binary), $(wc -l < "$sse") (SSE) of $(wc -l < "$ref") events"
  sleep 0.5
done
kill -TERM "$subscriber" 2>/dev/null || true
wait "$subscriber" 2>/dev/null || true
kill "$sse_pid" 2>/dev/null || true
wait "$sse_pid" 2>/dev/null || true
cat "$CALLRAFT_LAB/sse.err"
[ "$before_kill" -gt 0 ] && [ "$sse_before_kill" -gt 0 ] || fail "a subscriber saw nothing before the kill"
grep -q "Last-Event-ID" "$CALLRAFT_LAB/sse.err" || fail "the SSE subscriber never had to reconnect"

step "verify: every event once, in log order, no gap; every acknowledged ticket opened once"
for stream in "$sub" "$sse"; do
python3 - "$stream" "$ref" "$ack" <<'PY'
import json, sys
sub = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ref = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ids = [(e["index"], e["position"]) for e in sub]
if ids != sorted(ids) or len(set(ids)) != len(ids):
    sys.exit("FAIL: the subscriber's events are not strictly in log order (or repeat)")
refids = [(e["index"], e["position"]) for e in ref]
n = len(refids)
if ids[:n] != refids:
    first = next(i for i in range(min(len(ids), n)) if ids[i] != refids[i]) if ids[:n] != refids[:len(ids)] else len(ids)
    sys.exit("FAIL: the subscriber's stream differs from the survivor's at event %d (%s vs %s)"
             % (first, ids[first:first + 1], refids[first:first + 1]))
opened = [e["ticket_code"] for e in sub if e["kind"] == "TICKET_OPENED"]
if len(set(opened)) != len(opened):
    sys.exit("FAIL: a ticket was opened twice in the stream")
acked = [l.split()[2] for l in open(sys.argv[3]) if l.strip()]
missing = set(acked) - set(opened)
if missing:
    sys.exit("FAIL: %d acknowledged tickets missing from the stream, e.g. %s" % (len(missing), sorted(missing)[:3]))
print("%s: %d events (%d tickets), identical to the survivor's stream; %d acknowledged tickets all present once"
      % (sys.argv[1].rsplit("/", 1)[-1], len(sub), len(opened), len(acked)))
PY
done
echo "PASS"
