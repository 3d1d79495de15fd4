#!/usr/bin/env bash
# A damaged snapshot image on running nodes (issue 18, item 4; replication/repl_snapcheck.c), on a
# 1+1+1 cluster with a small snapshot threshold. Node 1 (tehran) and node 3 (the witness) start
# first and take writes until node 1's log is compacted far past its start, so that node 2
# (shiraz), started later, can only catch up by an InstallSnapshot.
#   send:    node 1, the leader, finds the image on its own disk damaged (a bit flip made while it
#            runs) when it loads it to send to node 2. It must not send it: it stops (exit 70)
#            with a fatal line saying its copy is damaged; nodes 2 and 3 keep acknowledging writes
#            (node 3 sends its own, sound, snapshot to node 2); restarted, node 1 reports the image
#            (event=snapshot_corrupt), sets it aside, starts from the snapshot before it and the
#            log, and catches up.
#   receive: a fresh cluster whose nodes 1 and 3 run callraftd-nosnapcheck (the daemon without the
#            check: a faulty leader) with their newest images damaged, so that the leader sends a
#            damaged image. Node 2 must stop (exit 70) with a fatal line saying it refused the image
#            before writing it, and hold no snapshot file; nodes 1 and 3 keep acknowledging writes;
#            once the leader holds a sound snapshot again, node 2 restarted on its own data (nothing
#            of the damaged image was written) catches up.
# Each part ends with every acknowledged write present exactly once on every node.
# The negative controls (test_snapshot_damage_control.sh): CALLRAFT_SNAPSHOT_DAMAGE_CONTROL=send
# runs node 1 of the send part without the check (it sends its damaged image: node 2 refuses it);
# =receive skips the send part and runs node 2 of the receive part without the check (it writes
# the damaged image).
source "$(dirname "$0")/lib.sh"
lab=$CALLRAFT_LAB
export CALLRAFT_SNAPSHOT_THRESHOLD=128 CALLRAFT_SNAPSHOT_TRAILING=256
# The leader sends node 2 a new image only once raft's install_snapshot_timeout has passed since the
# one node 2 refused (receive part): 60 s by default, as long as wait_caught_up's deadline (the
# restarted node 2 caught up in the very last seconds of it, or not: the test failed so under
# load). The images here are a few kB, sent in milliseconds.
export CALLRAFT_NODE_INI_EXTRA='[raft]\ninstall_snapshot_timeout_ms = 5000'
control=${CALLRAFT_SNAPSHOT_DAMAGE_CONTROL:-}
checked=$BUILD/callraftd
unchecked=$BUILD/callraftd-nosnapcheck
[ -x "$unchecked" ] || fail "$unchecked not built"

# start_node ID BINARY: node ID run by BINARY (lib.sh's start_bg); its exit code goes to
# $lab/exit.ID, the daemon's pid to its pid file (so that cluster.sh kill and down stop it).
start_node() { start_bg "$1" "$2" "$lab/exit.$1"; }
# snapshots ID: node ID's raft snapshots (data files), oldest first.
snapshots() {
  ls "$lab/node$1/data/raft" | grep -E '^snapshot-[0-9]+-[0-9]+-[0-9]+$' | sort -t- -k2,2n -k3,3n -k4,4n || true
}
# flip FILE: one bit flipped in the middle of FILE (in place: the same inode).
flip() {
  python3 -c 'import sys; f=open(sys.argv[1],"r+b"); n=f.seek(0,2); f.seek(n//2); b=f.read(1); f.seek(n//2); f.write(bytes([b[0]^0x10]))' "$1"
}
# wait_exit ID SECONDS: prints node ID's exit code, or "running" if it still runs by then.
wait_exit() {
  local deadline=$((SECONDS + $2))
  while [ ! -s "$lab/exit.$1" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  cat "$lab/exit.$1" 2>/dev/null || echo running
}
# One writer per part (customers are named per writer run, so a second run would open second
# tickets for the same customers): paused (SIGSTOP) while a damaged image is in place, so that no
# new snapshot replaces it, and resumed to see the cluster serve.
WRITER=
sd_cleanup() {
  local rc=$?
  set +e # (exit $rc) below must not end the trap under set -e before cleanup runs
  [ -z "$WRITER" ] || { kill -CONT "$WRITER"; kill -TERM "$WRITER"; } 2>/dev/null || true
  (exit $rc)
  cleanup
}
trap sd_cleanup EXIT
# pause_writes: the writer stopped, and node 1's newest snapshot no longer changing (one may be
# being written from the last entries).
pause_writes() {
  local a b
  kill -STOP "$WRITER"
  b=$(snapshots 1 | tail -n 1)
  for _ in $(seq 1 20); do sleep 1; a=$b; b=$(snapshots 1 | tail -n 1); [ "$a" != "$b" ] || return 0; done
  fail "node 1 keeps taking snapshots with the writer paused"
}
# resume_writes NAME: the writer resumed; the cluster must acknowledge writes within 20 s.
resume_writes() {
  local t0 deadline=$((SECONDS + 20))
  t0=$(date +%s%3N)
  kill -CONT "$WRITER"
  until [ "$(awk -v t="$t0" '$1 > t' "$lab/acks" | wc -l)" -ge 20 ]; do
    [ $SECONDS -lt $deadline ] || fail "$1: fewer than 20 writes acknowledged in 20 s"
    sleep 0.5
  done
  sleep 2
  echo "$1: $(awk -v t="$t0" '$1 > t' "$lab/acks" | wc -l) writes acknowledged since it resumed"
}
# bring_up BIN1 BIN3: a fresh 1+1+1 cluster of nodes 1 and 3 (node 2 configured, not started),
# written to until node 1's newest snapshot is past index 400 (its log then starts after 144: node 2
# needs a snapshot); the writer paused, then one more snapshot taken by hand on node 1: its newest
# image is then 128 entries (the threshold) from the next one, 64 s of the leader's Ticks (2 a
# second) with the writer paused, so that no new image replaces the one the test damages before
# node 2 asks for it.
bring_up() {
  "$CLUSTER_SH" config 1+1+1 >/dev/null
  start_node 1 "$1"
  start_node 3 "$2"
  : > "$lab/acks"
  local leader deadline=$((SECONDS + 60))
  leader=$(wait_leader)
  [ "$leader" = 1 ] || fail "node $leader leads, expected node 1 (the witness hands leadership over)"
  "$TRAFFIC" write --cluster "$(cluster)" --ack-file "$lab/acks" --clients 4 --duration 300 > "$lab/write.out" &
  WRITER=$!
  until [ "$(snapshots 1 | tail -n 1 | cut -d- -f3)" -gt 400 ] 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "node 1 took no snapshot past index 400 within 60 s"
    sleep 0.5
  done
  pause_writes
  "$CLI" --cluster "$(client_addr 1)" --timeout 20000 snapshot >/dev/null
  echo "$(wc -l < "$lab/acks") writes acknowledged before node 2 starts"
}
# verify_all NAME: the writer stopped, every acknowledged write exactly once on every node.
verify_all() {
  local acked
  stop_writes "$WRITER" "$lab/acks" "$(date +%s%3N)"
  WRITER=
  acked=$(wc -l < "$lab/acks")
  wait_caught_up 1 2 3
  for id in 1 2 3; do
    for try in 1 2 3 4 5 6; do
      "$TRAFFIC" verify --nodes "$(client_addr "$id")" --ack-file "$lab/acks" --expect-total "$acked" > "$lab/verify.out" 2>&1 && break
      [ $try -lt 6 ] || { tail -3 "$lab/verify.out"; fail "$1: node $id does not hold every acknowledged write exactly once"; }
      sleep 3
    done
  done
  echo "$1: $acked acknowledged writes, each exactly once on nodes 1, 2 and 3"
}

# The receive control needs only the second part.
if [ "$control" != receive ]; then
  step "send: node 1 leads with a damaged image on its disk; node 2 needs a snapshot"
  bin1=$checked; [ "$control" != send ] || bin1=$unchecked
  bring_up "$bin1" "$checked"
  snap=$(snapshots 1 | tail -n 1)
  flip "$lab/node1/data/raft/$snap"
  echo "flipped a bit in node 1's $snap"
  start_node 2 "$checked"
  deadline=$((SECONDS + 30))
  while [ ! -s "$lab/exit.1" ] && [ $SECONDS -lt $deadline ]; do
    # The failure the check prevents: the damaged image sent (node 2's own check refuses it).
    if [ -s "$lab/exit.2" ]; then
      fail "send: node 1 sent its damaged snapshot: node 2 stopped (exit $(cat "$lab/exit.2")): $(grep level=fatal "$lab/node2/log" | tail -n 1 | sed 's/.*msg=//')"
    fi
    sleep 0.2
  done
  rc=$(wait_exit 1 0)
  [ "$rc" = 70 ] || fail "send: node 1 did not stop (exit '$rc', expected 70) within 30 s of node 2's start"
  line=$(grep "level=fatal" "$lab/node1/log" | tail -n 1)
  echo "$line" | grep -q "loaded to send to a member: .*this node's copy is damaged" ||
    fail "send: node 1's fatal line does not say its copy is damaged: $line"
  echo "send: node 1 stopped (exit 70): ${line#*msg=}"
  leader=$(wait_leader 1)
  echo "send: node $leader leads now"
  resume_writes "send: nodes 2 and 3"
  [ "$(wait_exit 2 0)" = running ] || fail "send: node 2 stopped (exit $(cat "$lab/exit.2"))"
  wait_caught_up 2 3
  step "send: node 1 restarted: its damaged image is set aside"
  start_node 1 "$checked"
  deadline=$((SECONDS + 20))
  until grep -q "event=snapshot_corrupt file=$lab/node1/data/raft/$snap " "$lab/node1/log"; do
    [ $SECONDS -lt $deadline ] || fail "send: restarted, node 1 did not report its damaged $snap"
    sleep 0.2
  done
  grep "event=snapshot_corrupt" "$lab/node1/log" | sed 's/.*msg=/  /'
  [ -f "$lab/node1/data/raft/corrupt-$snap" ] || fail "send: $snap was not set aside"
  verify_all send
  "$CLUSTER_SH" down >/dev/null
  rm -rf "$lab"/node* "$lab/members.ini" "$lab"/exit.*
fi

step "receive: the leader (without the check) sends a damaged image to node 2"
bin2=$checked; [ "$control" != receive ] || bin2=$unchecked
bring_up "$unchecked" "$unchecked"
for id in 1 3; do
  snap=$(snapshots $id | tail -n 1)
  flip "$lab/node$id/data/raft/$snap"
  echo "flipped a bit in node $id's $snap"
done
start_node 2 "$bin2"
deadline=$((SECONDS + 30))
while [ ! -s "$lab/exit.2" ] && [ $SECONDS -lt $deadline ]; do
  # The failure the check prevents: the damaged image written to node 2's disk.
  [ -z "$(snapshots 2)" ] || fail "receive: node 2 wrote the damaged image to disk: $(snapshots 2 | tr '\n' ' ')"
  sleep 0.2
done
rc=$(wait_exit 2 0)
[ -z "$(snapshots 2)" ] || fail "receive: node 2 wrote the damaged image to disk: $(snapshots 2 | tr '\n' ' ')"
[ "$rc" = 70 ] || fail "receive: node 2 did not stop (exit '$rc', expected 70) within 30 s"
line=$(grep "level=fatal" "$lab/node2/log" | tail -n 1)
echo "$line" | grep -q "installed by the leader: .*refused before writing it" ||
  fail "receive: node 2's fatal line does not say it refused the image: $line"
echo "receive: node 2 stopped (exit 70), no snapshot on its disk: ${line#*msg=}"
resume_writes "receive: nodes 1 and 3"
step "receive: node 1 takes a sound snapshot; node 2 restarted comes back"
before=$(snapshots 1 | tail -n 1)
"$CLI" --cluster "$(client_addr 1)" snapshot --no-wait >/dev/null
"$CLI" --cluster "$(cluster)" call enqueue --call-id snap-sound --queue q --caller +1777 >/dev/null
deadline=$((SECONDS + 20))
until [ "$(snapshots 1 | tail -n 1)" != "$before" ]; do
  [ $SECONDS -lt $deadline ] || fail "receive: node 1 took no snapshot"; sleep 0.2
done
start_node 2 "$checked"
verify_all receive
[ "$(wait_exit 2 0)" = running ] || fail "receive: node 2 stopped again (exit $(cat "$lab/exit.2"))"
echo "PASS"
