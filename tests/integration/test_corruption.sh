#!/usr/bin/env bash
# Corruption on one node's disk (issue 18, item 4), done while the node is stopped, on a 1+1+1
# cluster that took writes (small snapshot threshold, so snapshots and several segments exist):
#   state (data.mdb; LMDB has no page checksums, node/state_seal.c seals the state at a clean
#   stop): bit flips in live records, zeroed 4 KiB pages, a truncation -> the node logs level=error
#   event=state_corrupt naming data.mdb, discards the state, rebuilds it from its raft log and
#   holds every acknowledged write exactly once;
#   raft snapshots (raft_uv checks the CRC of a snapshot's .meta only; the image carries our CRC-32C,
#   replication/repl_snapcheck.c): a bit flip in the newest snapshot's image, then in the newest
#   .meta -> the node logs level=error event=snapshot_corrupt naming it, sets it aside
#   (corrupt-<name>), starts from the snapshot before it and the log, and holds every acknowledged
#   write; both images flipped (nothing to fall back to) -> it refuses to start (exit 1) naming it;
#   raft log (closed segments; raft checksums every batch, auto-recovery off): a bit flip, a zeroed
#   page, a truncation -> the node refuses to start (exit 1) with a level=fatal line naming the
#   segment; then the re-seed procedure of docs/operations.md: remove the node, wipe it, add it
#   back with a new id; it catches up from the others.
# The negative controls (test_corruption_control.sh): CALLRAFT_CORRUPTION_CONTROL=seal removes the
# state seal before the damage; =snapshot skips the state cases and rewrites the flipped image as
# format 1 (the image without its checksum, as before it had one).
source "$(dirname "$0")/lib.sh"
lab=$CALLRAFT_LAB
export CALLRAFT_SNAPSHOT_THRESHOLD=256 CALLRAFT_SNAPSHOT_TRAILING=512

# damage FILE flip|zero|truncate|flip-half [PATTERN]: with PATTERN (bytes of live records), one bit
# flipped in every copy of it, or the 4 KiB pages holding the middle eight copies zeroed; without,
# at the middle of the file (raft checks every byte of a segment); flip-half: the byte at half the
# length (a file smaller than a page: a snapshot's .meta).
damage() {
  python3 - "$@" <<'PY'
import re, sys
p, how = sys.argv[1], sys.argv[2]
pat = sys.argv[3].encode() if len(sys.argv) > 3 else None
b = bytearray(open(p, 'rb').read())
mid = (len(b) // 2) & ~4095
hits = [m.start() for m in re.finditer(re.escape(pat), b)] if pat else [mid + 100]
assert hits, "pattern not found"
if how == 'flip-half':
    b[len(b) // 2] ^= 0x10
elif how == 'flip':
    for h in hits: b[h] ^= 0x10
elif how == 'zero':
    c = len(hits) // 2
    for h in hits[max(0, c - 4):c + 4]:
        pg = h & ~4095; b[pg:pg + 4096] = bytes(min(4096, len(b) - pg))
else:
    b = b[:mid + 1000]
open(p, 'wb').write(b)
PY
}
wait_exit() { # ID -> exit code of the node started in the background, within 30 s
  local deadline=$((SECONDS + 30))
  while [ ! -s "$lab/exit.$1" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  cat "$lab/exit.$1" 2>/dev/null || echo none
}
# node_bg ID: runs node ID (lib.sh's start_bg), its exit code to $lab/exit.ID. Its pid goes to its
# pid file, so that the cleanup (cluster.sh down) stops it if it runs when it should have refused to
# start (else the test would wait for it until ctest's timeout).
node_bg() { start_bg "$1" "$BUILD/callraftd" "$lab/exit.$1"; }
# verify_node ID WHAT: node ID holds every acknowledged write ($acked of them) exactly once, else
# the test fails with WHAT. The applied index reported can run ahead of a rebuild's replay for a
# moment: a few tries.
verify_node() {
  local try
  for try in 1 2 3 4 5 6; do
    "$TRAFFIC" verify --nodes "$(client_addr "$1")" --ack-file "$lab/acks" --expect-total "$acked" > "$lab/verify.out" 2>&1 && break
    [ $try -lt 6 ] || { tail -3 "$lab/verify.out"; fail "$2"; }
    echo "  verify try $try: $(tail -2 "$lab/verify.out" | head -1)"; sleep 3
  done
  tail -1 "$lab/verify.out"
}

step "a 1+1+1 cluster takes writes for 5 s"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
"$TRAFFIC" write --cluster "$(cluster)" --ack-file "$lab/acks" --clients 4 --duration 5 > "$lab/write.out"
cat "$lab/write.out"
acked=$(wc -l < "$lab/acks")
wait_caught_up 1 2 3
f=$(( leader % 3 + 1 )); [ "$f" != 3 ] || f=$(( leader % 2 + 1 ))  # a follower that is not the witness
site=$( [ "$f" = 1 ] && echo tehran || echo shiraz )
echo "leader $leader; corruption on node $f ($site)"
control=${CALLRAFT_CORRUPTION_CONTROL:-}
for how in flip zero truncate; do
  [ "$control" != snapshot ] || break
  step "state: $how in data.mdb"
  "$CLUSTER_SH" kill "$f" TERM >/dev/null
  [ -s "$lab/node$f/data/state-seal" ] || fail "no state seal after node $f's clean stop"
  : > "$lab/node$f/log"
  # The negative control (test_corruption_control.sh): without the seal the damage must go unseen.
  [ "$control" != seal ] || rm -f "$lab/node$f/data/state-seal"
  damage "$lab/node$f/data/state/data.mdb" "$how" "failover test" # traffic's ticket subjects
  "$CLUSTER_SH" start "$f" >/dev/null
  deadline=$((SECONDS + 20))
  until grep -q "event=state_corrupt file=$lab/node$f/data/state/data.mdb" "$lab/node$f/log"; do
    [ $SECONDS -lt $deadline ] || fail "$how: node $f did not report its damaged data.mdb"; sleep 0.2
  done
  grep "event=state_corrupt" "$lab/node$f/log" | sed 's/.*msg=/  /'
  wait_caught_up "$f"
  verify_node "$f" "$how: node $f lost acknowledged writes after its rebuild"
done

# newest_snapshot ID: the name of node ID's newest raft snapshot (its data file), empty if it has
# none yet (a slow node, build-asan: 209 entries in the 5 s of writes, below the threshold).
newest_snapshot() {
  ls "$lab/node$1/data/raft" | { grep -E '^snapshot-[0-9]+-[0-9]+-[0-9]+$' || true; } |
    sort -t- -k2,2n -k3,3n -k4,4n | tail -n 1
}
# take_snapshot ID NAME: node ID takes a snapshot at the next entry (a call NAME enqueued).
take_snapshot() {
  local before deadline=$((SECONDS + 20))
  before=$(newest_snapshot "$1")
  "$CLI" --cluster "$(client_addr "$1")" snapshot --no-wait >/dev/null
  "$CLI" --cluster "$(cluster)" call enqueue --call-id "snap-$2" --queue q --caller +1777 >/dev/null
  until [ "$(newest_snapshot "$1")" != "$before" ]; do
    [ $SECONDS -lt $deadline ] || fail "node $1 took no snapshot"; sleep 0.2
  done
}
for part in image meta; do
  step "raft snapshot: a bit flip in the newest snapshot's $part"
  take_snapshot "$f" "$part" # so that node f holds two, with the log between them
  # A slow node (build-asan) may have taken none in the 5 s of writes: a second one then, or the
  # damaged one would have nothing to fall back to.
  [ "$(ls "$lab/node$f/data/raft" | grep -cE '^snapshot-[0-9]+-[0-9]+-[0-9]+$')" -ge 2 ] ||
    take_snapshot "$f" "$part-again"
  "$CLUSTER_SH" kill "$f" TERM >/dev/null
  snap=$(newest_snapshot "$f")
  : > "$lab/node$f/log"
  if [ "$part" = image ]; then damage "$lab/node$f/data/raft/$snap" flip
  else damage "$lab/node$f/data/raft/$snap.meta" flip-half; fi
  if [ "$control" = snapshot ]; then # format 1: "CRSNAP01", applied, length, payload (no checksum)
    python3 -c 'import sys; p=sys.argv[1]; b=open(p,"rb").read(); open(p,"wb").write(b"CRSNAP01"+b[8:24]+b[32:])' \
      "$lab/node$f/data/raft/$snap"
  fi
  "$CLUSTER_SH" start "$f" >/dev/null
  deadline=$((SECONDS + 20)) # the report comes before the node says it started
  until grep -q "event=started" "$lab/node$f/log"; do
    [ $SECONDS -lt $deadline ] || fail "$part: node $f did not start"; sleep 0.2
  done
  grep -q "event=snapshot_corrupt file=$lab/node$f/data/raft/$snap " "$lab/node$f/log" ||
    fail "$part: node $f did not report its damaged snapshot $snap"
  grep "event=snapshot_corrupt" "$lab/node$f/log" | sed 's/.*msg=/  /'
  [ -f "$lab/node$f/data/raft/corrupt-$snap" ] && [ ! -e "$lab/node$f/data/raft/$snap" ] ||
    fail "$part: snapshot $snap was not set aside"
  wait_caught_up "$f"
  verify_node "$f" "$part: node $f lost acknowledged writes after its snapshot was set aside"
done

# The raft cases start each from a copy of the stopped node's data (the node never runs on them:
# it must refuse to start; a copy of a raft directory must never run, it would roll back its votes).
take_snapshot "$f" last # two snapshots again, for the case of both damaged
"$CLUSTER_SH" kill "$f" TERM >/dev/null
cp -a "$lab/node$f/data" "$lab/good"
for how in flip zero truncate; do
  step "raft log: $how in a closed segment"
  rm -rf "$lab/node$f/data"; cp -a "$lab/good" "$lab/node$f/data"; : > "$lab/node$f/log"
  # The largest closed segment: the first may hold entry 1 alone (fewer than the 1000 bytes the
  # truncation keeps) when few writes came before the log was compacted, as on a loaded machine.
  seg=$(ls -S "$lab/node$f/data/raft" | grep -E '^[0-9]+-[0-9]+$' | head -1)
  [ -n "$seg" ] || fail "node $f has no closed segment"
  damage "$lab/node$f/data/raft/$seg" "$how"
  node_bg "$f"
  rc=$(wait_exit "$f")
  [ "$rc" = 1 ] || fail "$how: node $f with a damaged segment exited with '$rc', expected 1 (refused to start)"
  line=$(grep "level=fatal" "$lab/node$f/log" | tail -1)
  echo "$line" | grep -q "$seg" || fail "$how: the fatal line does not name segment $seg: $line"
  echo "  refused: ${line#*msg=}"
done

step "raft snapshot: the newest image truncated, the one before it flipped (nothing to fall back to)"
rm -rf "$lab/node$f/data"; cp -a "$lab/good" "$lab/node$f/data"; : > "$lab/node$f/log"
snaps=$(ls "$lab/node$f/data/raft" | grep -E '^snapshot-[0-9]+-[0-9]+-[0-9]+$' | sort -t- -k2,2n -k3,3n -k4,4n)
[ "$(echo "$snaps" | wc -l)" -ge 2 ] || fail "node $f holds fewer than two snapshots"
damage "$lab/node$f/data/raft/$(echo "$snaps" | tail -n 1)" truncate
damage "$lab/node$f/data/raft/$(echo "$snaps" | tail -n 2 | head -n 1)" flip
node_bg "$f"
rc=$(wait_exit "$f")
[ "$rc" = 1 ] || fail "snapshots: node $f with every snapshot damaged exited with '$rc', expected 1 (refused to start)"
line=$(grep "level=fatal" "$lab/node$f/log" | tail -1)
echo "$line" | grep -q "snapshot-.*checksum mismatch" || fail "snapshots: the fatal line does not name a damaged snapshot: $line"
grep "event=snapshot_corrupt" "$lab/node$f/log" | grep -q "payload length" ||
  fail "snapshots: no snapshot_corrupt line for the truncated image"
grep "event=snapshot_corrupt" "$lab/node$f/log" | sed 's/.*msg=/  /' 
echo "  refused: ${line#*msg=}"

step "re-seed: remove node $f, wipe it, add it back as node 4"
"$CLI" --cluster "$(cluster)" members remove "$f" >/dev/null
rm -rf "$lab/node$f"
"$CLUSTER_SH" new 4 "$site" >/dev/null
"$CLI" --cluster "$(cluster)" members add 4 --site "$site" --raft-address 127.0.0.1:$((CALLRAFT_PORT_BASE + 4)) --client-address "$(client_addr 4)" >/dev/null
"$CLI" --cluster "$(cluster)" members assign 4 voter >/dev/null
wait_caught_up 4
"$TRAFFIC" verify --nodes "$(client_addr 4)" --ack-file "$lab/acks" --expect-total "$acked"
"$CLI" --cluster "$(cluster)" call enqueue --call-id after-reseed --queue q --caller +1888 >/dev/null ||
  fail "the cluster does not serve writes after the re-seed"
echo "PASS"
