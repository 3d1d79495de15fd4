#!/usr/bin/env bash
# Power loss on real processes (issue 18, item 3). A 3-node cluster (1+1+1) runs under
# libcallraft_powercut.so (tests/faults/powercut.c): every write a node has not synced can be
# undone. Four client sessions write (one ticket per unique customer) while
#   1. the leader loses power: SIGKILL, its unsynced writes undone or torn (powercut.py), a new
#      boot id, restart;
#   2. every node loses power at once, the same way, and all restart.
# Afterwards every acknowledged write is present exactly once on every node (callraft-traffic
# verify). With CALLRAFT_POWERCUT_NOSYNC=1 (the negative control: fsync and O_DSYNC make nothing
# durable, as with eatmydata) the same run must lose acknowledged writes: see
# test_power_loss_control.sh.
source "$(dirname "$0")/lib.sh"
POWERCUT_LIB=$BUILD/tests/libcallraft_powercut.so
POWERCUT=$ROOT/tests/faults/powercut.py
[ -f "$POWERCUT_LIB" ] || fail "$POWERCUT_LIB not built"
NOSYNC=${CALLRAFT_POWERCUT_NOSYNC:-0}
lab=$CALLRAFT_LAB

# start_cut ID: starts node ID under the preload, with its simulated boot id.
start_cut() {
  local id=$1
  mkdir -p "$lab/node$id/journal"
  [ -f "$lab/node$id/boot_id" ] || echo "sim-boot-$id-0" > "$lab/node$id/boot_id"
  LD_PRELOAD=$POWERCUT_LIB CALLRAFT_POWERCUT_ROOT=$lab/node$id/data \
    CALLRAFT_POWERCUT_JOURNAL=$lab/node$id/journal CALLRAFT_POWERCUT_BOOT_ID=$lab/node$id/boot_id \
    CALLRAFT_POWERCUT_NOSYNC=$NOSYNC \
    "$BUILD/callraftd" --config "$lab/node$id/node.ini" >>"$lab/node$id/log" 2>&1 &
  echo $! > "$lab/node$id/pid"
  disown $!
}

# power_cut ID SEED: the machine of node ID loses power (the process is killed first).
power_cut() {
  local id=$1 seed=$2 pid
  pid=$(cat "$lab/node$id/pid")
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  python3 "$POWERCUT" cut --data "$lab/node$id/data" --journal "$lab/node$id/journal" --seed "$seed"
  echo "sim-boot-$id-$seed" > "$lab/node$id/boot_id"
}

# running: how many of the three nodes still run. A node that finds its log torn at start exits, and
# none is restarted: with fewer than two running there is no quorum, and no leader can come.
running() {
  local id pid n=0
  for id in 1 2 3; do
    pid=$(cat "$lab/node$id/pid" 2>/dev/null) || continue
    # A zombie (exited, not yet reaped by this shell) is not running.
    [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$pid/stat" && n=$((n + 1))
  done
  echo "$n"
}

step "start a 1+1+1 cluster under the power-cut library (nosync=$NOSYNC)"
"$CLUSTER_SH" config 1+1+1 >/dev/null
for id in 1 2 3; do start_cut "$id"; done
leader=$(wait_leader)
echo "leader: $leader"

step "write (24 s at most); the leader loses power after 4 s, every node after 12 s"
ack=$lab/acks
"$TRAFFIC" write --cluster "$(cluster)" --ack-file "$ack" --clients 4 --duration "${CALLRAFT_POWERCUT_WRITE_S:-24}" > "$lab/write.out" &
writer=$!
sleep 4
power_cut "$leader" 11
start_cut "$leader"
sleep 8
for id in 1 2 3; do power_cut "$id" $((20 + id)); done
for id in 1 2 3; do start_cut "$id"; done
# The writer ends once 20 writes are acknowledged after the restart (the cluster serves again), at
# its --duration, or once fewer than two nodes run (the negative control's nodes may find their logs
# torn and stop: the cluster cannot come back).
restart_ms=$(date +%s%3N)
until [ "$(awk -v t="$restart_ms" '$1 > t' "$ack" | wc -l)" -ge 20 ]; do
  kill -0 "$writer" 2>/dev/null || break
  [ "$(running)" -ge 2 ] || break
  sleep 0.2
done
kill -TERM "$writer" 2>/dev/null || true
wait $writer || true
cat "$lab/write.out"
acked=$(wc -l < "$ack")
[ "$acked" -gt 0 ] || fail "no write was acknowledged"
rebuilds=$(cat "$lab"/node*/log | grep -c "discarded .* to rebuild it from the raft log" || true)
echo "acknowledged=$acked; state rebuilds after the power cuts (boot-id rule): $rebuilds"
[ "$NOSYNC" = 1 ] || [ "$rebuilds" -ge 4 ] || fail "expected the boot-id rule to rebuild 4 states, saw $rebuilds"

step "verify: every acknowledged write exactly once on every node"
n=$(running)
[ "$n" -ge 2 ] || fail "no leader: $((3 - n)) of the 3 nodes stopped after the power cut (no quorum left)"
wait_leader >/dev/null
wait_caught_up 1 2 3
"$TRAFFIC" verify --nodes "$(cluster)" --ack-file "$ack" --expect-total "$acked"
echo "PASS"
