#!/usr/bin/env bash
# The negative control of test_power_loss.sh: the same run with fsync, fdatasync, O_DSYNC and
# RWF_DSYNC made ineffective (CALLRAFT_POWERCUT_NOSYNC=1, what eatmydata does) must fail: the
# acknowledged entries were never durable, so after the cluster-wide power cut raft finds its log
# torn (checksum mismatches, zeroed segment headers) or writes are missing. If it passed, the
# power-loss test could not see a loss.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_power_loss_control.sh BUILD_DIR}" && pwd)
out=$(mktemp /tmp/callraft-powercut-control.XXXXXX)
trap 'rm -f "$out"' EXIT
CALLRAFT_POWERCUT_NOSYNC=1 CALLRAFT_POWERCUT_WRITE_S=16 \
  bash "$(dirname "$0")/test_power_loss.sh" "$BUILD" >"$out" 2>&1
rc=$?
grep -E "^(powercut|write|acknowledged|verify|FAIL|callraftd:)" "$out" | head -20
if [ $rc -eq 0 ]; then
  echo "FAIL: the power-loss test passed with syncs disabled: it cannot see a loss" >&2
  exit 1
fi
grep -qE "checksum mismatch|unexpected format version|lost_or_duplicated=[1-9]|no leader" "$out" ||
  { echo "FAIL: the control failed, but not by a loss or a torn log:" >&2; tail -20 "$out" >&2; exit 1; }
echo "PASS (the control run failed as it must)"
