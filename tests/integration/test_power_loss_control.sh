#!/usr/bin/env bash
# The negative control of test_power_loss.sh: the same run with fsync, fdatasync, O_DSYNC and
# RWF_DSYNC made ineffective (CALLRAFT_POWERCUT_NOSYNC=1, what eatmydata does) must fail: the
# acknowledged entries were never durable, so after the cluster-wide power cut raft finds its log
# torn (checksum mismatches, zeroed segment headers) or writes are missing. If it passed, the
# power-loss test could not see a loss.
source "$(dirname "$0")/lib.sh"
run_control "syncs disabled" "checksum mismatch|unexpected format version|lost_or_duplicated=[1-9]|no leader" \
  test_power_loss.sh CALLRAFT_POWERCUT_NOSYNC=1 CALLRAFT_POWERCUT_WRITE_S=16
echo "PASS (the control run failed as it must)"
