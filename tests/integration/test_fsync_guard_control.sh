#!/usr/bin/env bash
# The negative control of test_disk_faults.sh's case D (EIO on fsync and fdatasync in a running
# node): the same case with the faulty node running callraftd-nofsyncguard, the daemon without
# node/fsync_guard.c, must fail, and by what the guard prevents: the syncs fail (strace injects
# EIO) and the node runs on without stopping or saying so. If it passed, case D could not tell the
# guard's fail-stop from what raft_uv and LMDB do on their own.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_fsync_guard_control.sh BUILD_DIR}" && pwd)
[ -x "$BUILD/callraftd-nofsyncguard" ] || { echo "FAIL: $BUILD/callraftd-nofsyncguard not built" >&2; exit 1; }
out=$(mktemp /tmp/callraft-fsync-guard-control.XXXXXX)
trap 'rm -f "$out"' EXIT
CALLRAFT_DISK_FAULTS_CASES=D CALLRAFT_DISK_FAULTS_DAEMON=$BUILD/callraftd-nofsyncguard \
  bash "$(dirname "$0")/test_disk_faults.sh" "$BUILD" >"$out" 2>&1
rc=$?
grep -E "^(---|FAIL|PASS|EIO)" "$out" | head -20
if [ $rc -eq 0 ]; then
  echo "FAIL: case D passed without the fsync guard: it cannot see a failed sync go unnoticed" >&2
  exit 1
fi
grep -qE "^FAIL: EIO on fsync/fdatasync \(running\): node [0-9] did not stop within 60 s \([1-9][0-9]* failed calls injected, 0 error or fatal lines logged since\)" "$out" ||
  { echo "FAIL: the control failed, but not by failed syncs going unnoticed:" >&2; tail -30 "$out" >&2; exit 1; }
echo "PASS (the control run failed as it must: the syncs failed and the node ran on silently)"
