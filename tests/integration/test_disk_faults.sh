#!/usr/bin/env bash
# Disk faults on real processes (issue 18, item 2), injected with strace into one follower of a
# 3-node cluster (1+1+1) while four client sessions write:
#   A. disk full: ENOSPC on the state's writes (LMDB's pwrite64). The node must stop (fail-stop,
#      exit code 70) with a clear log line.
#   B. EIO on raft's log writes (raft_uv's io_submit). With our raft fail-stop patch
#      (deploy/raft-patches/raft-0.22.1-fail-stop.patch and -log-write-fail-stop.patch) a failed log write stops the node (exit
#      70) with a fatal line naming the I/O failure, instead of leaving it running as a zombie that
#      can no longer persist; it catches up once restarted on a healthy disk.
#   C. EIO on fsync/fdatasync from the start: the node must refuse to start with a clear error
#      (the unclean-reboot rule cannot record the boot id).
#   D. EIO on fsync/fdatasync in the running node (strace attached with -p), a snapshot asked of
#      it (or a log segment prepared or closed first): node/fsync_guard.c stops it (exit 70) with a fatal line naming the call and the file
#      (raft_uv itself ignored a failed fsync of a segment it finalizes and retried one of a
#      segment it prepares, silently). Without the guard this case fails: the node does not stop within
#      20 s of its first failed call and logs nothing (the negative control,
#      test_fsync_guard_control.sh).
#   E. EIO on the state's writes (LMDB's pwrite64) in the running node: it stops (exit 70).
# Meanwhile the other two must keep acknowledging writes; after each fault the node comes back on a
# healthy disk and catches up; at the end every acknowledged write is present exactly once on
# every node. CALLRAFT_DISK_FAULTS_LIB (optional): a directory with another libraft for callraftd
# (the negative control in tests/sim/README.md, "Disk faults on real processes").
# CALLRAFT_DISK_FAULTS_CASES (default "A B C D E"): the cases to run. CALLRAFT_DISK_FAULTS_DAEMON
# (default $BUILD/callraftd): the daemon the faulty node runs in the cases; the negative control of
# case D (test_fsync_guard_control.sh) runs it as callraftd-nofsyncguard.
source "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || fail "strace not installed (deploy/install-deps.sh installs it)"
lab=$CALLRAFT_LAB
cases=${CALLRAFT_DISK_FAULTS_CASES:-A B C D E}
daemon=${CALLRAFT_DISK_FAULTS_DAEMON:-$BUILD/callraftd}
[ -x "$daemon" ] || fail "no daemon '$daemon'"
want() { case " $cases " in *" $1 "*) return 0;; esac; return 1; }

# Every node's pid file holds the daemon's own pid, under strace too (start_bg), so cluster.sh down
# stops them all; on exit this test also stops the strace it attached and the writer, by their pids
# (a strace started with the node ends with it).
STRACE_PID= writer=
df_cleanup() {
  local rc=$?
  set +e # (exit $rc) below must not end the trap under set -e before cleanup runs
  [ -z "$STRACE_PID" ] || kill "$STRACE_PID" 2>/dev/null || true
  [ -z "$writer" ] || kill -TERM "$writer" 2>/dev/null || true
  (exit $rc)
  cleanup
}
trap df_cleanup EXIT

# start_faulty ID OUT INJECT...: node ID under strace with the given -e inject options.
start_faulty() {
  local id=$1 out=$2 env=()
  shift 2
  [ -z "${CALLRAFT_DISK_FAULTS_LIB:-}" ] || env=(env "LD_LIBRARY_PATH=$CALLRAFT_DISK_FAULTS_LIB")
  start_bg "$id" "$daemon" "$out" "${env[@]}" strace -f -qq -o /dev/null "$@"
}

# expect_fail_stop ID OUT WHAT: the node exits with 70 within 60 s, saying why. With strace attached
# (attach_faults), within 20 s of the first failed call strace injected: the fail-stop is at that
# call (node/fsync_guard.c exits in it), so a node still running 20 s later ran on past it, and the
# test says so then instead of at the 60 s deadline.
expect_fail_stop() {
  local id=$1 out=$2 what=$3 deadline=$((SECONDS + 60)) first=0 injected=0 limit=60
  while [ ! -s "$out" ] && [ $SECONDS -lt $deadline ]; do
    if [ $first = 0 ] && [ -n "$STRACE_OUT" ] && grep -q "(INJECTED)" "$STRACE_OUT" 2>/dev/null; then
      first=$SECONDS limit=20 deadline=$((SECONDS + 20))
    fi
    sleep 0.2
  done
  if [ ! -s "$out" ]; then
    # What the node did meanwhile: the calls strace made fail (attach_faults records them).
    [ -z "$STRACE_OUT" ] || injected=$(grep -c "(INJECTED)" "$STRACE_OUT" || true)
    local since="within 60 s"
    [ $first = 0 ] || since="within $limit s of its first failed call"
    fail "$what: node $id did not stop $since ($injected failed calls injected, $(tail -n +"$((FAULT_LOG_LINES + 1))" "$lab/node$id/log" | grep -c "level=fatal\|level=error" || true) error or fatal lines logged since)"
  fi
  STRACE_OUT=
  [ "$(cat "$out")" = 70 ] || fail "$what: node $id exited with $(cat "$out"), expected 70 (fail-stop)"
  local line
  line=$(grep "level=fatal" "$lab/node$id/log" | tail -n 1)
  [ -n "$line" ] || fail "$what: no level=fatal line in node $id's log"
  echo "$what: node $id stopped (exit 70): ${line#*msg=}"
}

# attach_faults ID INJECT...: strace attached to the running node ID with the given options; the
# calls it traces go to STRACE_OUT, the node's log lines so far are counted in FAULT_LOG_LINES.
FAULT_LOG_LINES=0 STRACE_OUT=
attach_faults() {
  local id=$1; shift
  FAULT_LOG_LINES=$(wc -l < "$lab/node$id/log")
  STRACE_OUT=$lab/strace.$id.$SECONDS.out
  strace -f -qq -o "$STRACE_OUT" -p "$(cat "$lab/node$id/pid")" "$@" &
  STRACE_PID=$!
  sleep 1 # strace is attached to every thread before the fault is provoked
}

# acks_since MS: acknowledged writes after MS.
acks_since() { awk -v t="$1" '$1 > t' "$lab/acks" | wc -l; }

# The writer runs until stop_writes ends it after the last case (at most 400 s): the cases took
# 115-190 s here, and one that outlasted a shorter writer saw "no write acknowledged".
step "start a 1+1+1 cluster and write until the faults are over (at most 400 s)"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
f=$(( leader % 3 + 1 ))
echo "leader $leader; faults go to follower $f"
"$TRAFFIC" write --cluster "$(cluster)" --ack-file "$lab/acks" --clients 4 --duration 400 > "$lab/write.out" &
writer=$!

restart_healthy() { # NAME
  "$CLUSTER_SH" start "$f" >/dev/null
  wait_caught_up 1 2 3
  echo "$1: node $f back on a healthy disk and caught up"
}

check_others_serve() { # NAME T0: a write acknowledged since T0 (waiting at most 20 s for one)
  local n deadline=$((SECONDS + 20))
  until n=$(acks_since "$2"); [ "$n" -gt 0 ]; do
    [ $SECONDS -lt $deadline ] || fail "$1: no write acknowledged while node $f was failing"
    sleep 0.2
  done
  echo "$1: $n writes acknowledged by the other two meanwhile"
}

# fault_at_start NAME FATAL WHY INJECT...: node $f stopped and started again under strace with the
# INJECT options: it must stop (exit 70) with a fatal line matching FATAL (grep -E; WHY names it in
# the FAIL line), the other two acknowledging writes meanwhile, and come back on a healthy disk.
fault_at_start() {
  local name=$1 fatal=$2 why=$3 out=$lab/exit.$f.$SECONDS t0
  shift 3
  "$CLUSTER_SH" kill "$f" TERM >/dev/null
  t0=$(date +%s%3N)
  start_faulty "$f" "$out" "$@"
  expect_fail_stop "$f" "$out" "$name"
  grep "level=fatal" "$lab/node$f/log" | tail -n 1 | grep -Eq -- "$fatal" ||
    fail "$name: node $f's fatal line does not name $why"
  check_others_serve "$name" "$t0"
  restart_healthy "$name"
}

# The first fault once writes flow: 20 acknowledged, or 30 s at most (each case checks that the
# other two nodes serve after its own fault).
for _ in $(seq 1 150); do [ "$(acks_since 0 2>/dev/null)" -lt 20 ] || break; sleep 0.2; done
if want A; then
  step "A. disk full: ENOSPC on the state's writes"
  fault_at_start "ENOSPC on pwrite64" "No space left on device" "the full disk" \
    -e trace=pwrite64 -e inject=pwrite64:error=ENOSPC:when=100+
fi

if want B; then
  step "B. EIO on raft's log writes (io_submit)"
  fault_at_start "EIO on io_submit" "[Ii]/[Oo]" "the I/O failure" \
    -e trace=io_submit -e inject=io_submit:error=EIO:when=20+
fi

if want C; then
  step "C. EIO on fsync and fdatasync from the start"
  name="EIO on fsync/fdatasync"
  "$CLUSTER_SH" kill "$f" TERM >/dev/null
  t0=$(date +%s%3N); out=$lab/exit.C
  start_faulty "$f" "$out" -e trace=fsync,fdatasync -e inject=fsync,fdatasync:error=EIO:when=1+
  deadline=$((SECONDS + 30))
  while [ ! -s "$out" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  [ "$(cat "$out" 2>/dev/null)" = 1 ] || fail "$name: expected node $f to refuse to start (exit 1)"
  line=$(grep "level=fatal" "$lab/node$f/log" | tail -n 1)
  echo "$line" | grep -q "Input/output error" || fail "$name: no clear error in the log: $line"
  echo "$name: node $f refused to start: ${line#*msg=}"
  check_others_serve "$name" "$t0"
  restart_healthy "$name"
fi

# fault_running NAME FATAL WHY PROVOKE INJECT...: node $f restarted healthy and caught up, then
# strace attached to it with the INJECT options and PROVOKE run (a command, or :): the node must
# stop (exit 70) with a fatal line matching FATAL (grep -E; WHY names it in the FAIL line), the
# other two acknowledging writes meanwhile, and come back on a healthy disk.
fault_running() {
  local name=$1 fatal=$2 why=$3 provoke=$4 out=$lab/exit.$f.$SECONDS t0
  shift 4
  "$CLUSTER_SH" kill "$f" TERM >/dev/null
  start_bg "$f" "$daemon" "$out"
  wait_caught_up "$f"
  t0=$(date +%s%3N)
  attach_faults "$f" "$@"
  $provoke
  expect_fail_stop "$f" "$out" "$name"
  grep "level=fatal" "$lab/node$f/log" | tail -n 1 | grep -Eq -- "$fatal" ||
    fail "$name: node $f's fatal line does not name $why"
  check_others_serve "$name" "$t0"
  restart_healthy "$name"
}

# A snapshot makes raft_uv sync its files; the node may have stopped already on another sync of
# raft_uv's (a segment it prepares or closes), hence no answer is fine.
snapshot_asked() {
  "$CLI" --cluster "$(client_addr "$f")" --timeout 2000 snapshot --no-wait >/dev/null 2>&1 || true
}

if want D; then
  step "D. EIO on fsync and fdatasync in the running node"
  fault_running "EIO on fsync/fdatasync (running)" "f(data)?sync of '$lab/node$f/data/raft" \
    "the failed fsync and its file" snapshot_asked -e trace=fsync,fdatasync -e inject=fsync,fdatasync:error=EIO
fi

if want E; then
  step "E. EIO on the state's writes in the running node"
  fault_running "EIO on pwrite64 (running)" "Input/output error" "the I/O error" : \
    -e trace=pwrite64 -e inject=pwrite64:error=EIO
fi

stop_writes "$writer" "$lab/acks" "$(date +%s%3N)"
writer=
cat "$lab/write.out"
acked=$(wc -l < "$lab/acks")
step "verify: every acknowledged write exactly once on every node"
wait_caught_up 1 2 3
"$TRAFFIC" verify --nodes "$(cluster)" --ack-file "$lab/acks" --expect-total "$acked"
echo "PASS"
