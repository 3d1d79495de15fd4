#!/usr/bin/env bash
# The negative controls of test_snapshot_damage.sh; each run must fail, and by the damaged image
# going where the check keeps it from going:
#   send:    node 1, the leader with a damaged image on its disk, runs callraftd-nosnapcheck (the
#            daemon without replication/repl_snapcheck.c): it sends the image, and node 2 (with the
#            check) refuses it;
#   receive: node 2, receiving a damaged image, runs callraftd-nosnapcheck: it writes the image to
#            its disk.
# If either passed, the test could not tell the check from none.
source "$(dirname "$0")/lib.sh"
run_control "control 'send'" \
  "^FAIL: send: node 1 sent its damaged snapshot: node 2 stopped \(exit 70\): .*installed by the leader" \
  test_snapshot_damage.sh CALLRAFT_SNAPSHOT_DAMAGE_CONTROL=send
run_control "control 'receive'" "^FAIL: receive: node 2 wrote the damaged image to disk: snapshot-" \
  test_snapshot_damage.sh CALLRAFT_SNAPSHOT_DAMAGE_CONTROL=receive
echo "PASS (both control runs failed as they must)"
