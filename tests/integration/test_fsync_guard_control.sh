#!/usr/bin/env bash
# The negative control of test_disk_faults.sh's case D (EIO on fsync and fdatasync in a running
# node): the same case with the faulty node running callraftd-nofsyncguard, the daemon without
# node/fsync_guard.c, must fail, and by what the guard prevents: the syncs fail (strace injects
# EIO) and the node runs on without stopping or saying so (with the guard it stops at the first
# failed call). If it passed, case D could not tell the guard's fail-stop from what raft_uv and
# LMDB do on their own.
source "$(dirname "$0")/lib.sh"
[ -x "$BUILD/callraftd-nofsyncguard" ] || fail "$BUILD/callraftd-nofsyncguard not built"
run_control "callraftd-nofsyncguard in case D" \
  "^FAIL: EIO on fsync/fdatasync \(running\): node [0-9] did not stop within [0-9]+ s of its first failed call \([1-9][0-9]* failed calls injected, 0 error or fatal lines logged since\)" \
  test_disk_faults.sh CALLRAFT_DISK_FAULTS_CASES=D CALLRAFT_DISK_FAULTS_DAEMON="$BUILD/callraftd-nofsyncguard"
echo "PASS (the control run failed as it must: the syncs failed and the node ran on silently)"
