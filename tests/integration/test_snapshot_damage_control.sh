#!/usr/bin/env bash
# The negative controls of test_snapshot_damage.sh; each run must fail, and by the damaged image
# going where the check keeps it from going:
#   send:    node 1, the leader with a damaged image on its disk, runs callraftd-nosnapcheck (the
#            daemon without replication/repl_snapcheck.c): it sends the image, and node 2 (with the
#            check) refuses it;
#   receive: node 2, receiving a damaged image, runs callraftd-nosnapcheck: it writes the image to
#            its disk.
# If either passed, the test could not tell the check from none.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_snapshot_damage_control.sh BUILD_DIR}" && pwd)
out=$(mktemp /tmp/callraft-snapshot-damage-control.XXXXXX)
trap 'rm -f "$out"' EXIT
for control in send receive; do
  CALLRAFT_SNAPSHOT_DAMAGE_CONTROL=$control bash "$(dirname "$0")/test_snapshot_damage.sh" "$BUILD" >"$out" 2>&1
  rc=$?
  grep -E "^(---|FAIL|PASS)" "$out" | head -20
  if [ $rc -eq 0 ]; then
    echo "FAIL: the snapshot damage test passed with control '$control': it cannot see that damage" >&2
    exit 1
  fi
  case $control in
    send) want="^FAIL: send: node 1 sent its damaged snapshot: node 2 stopped \(exit 70\): .*installed by the leader" ;;
    receive) want="^FAIL: receive: node 2 wrote the damaged image to disk: snapshot-" ;;
  esac
  grep -qE "$want" "$out" ||
    { echo "FAIL: control '$control' failed, but not by the damaged image getting through:" >&2; tail -30 "$out" >&2; exit 1; }
done
echo "PASS (both control runs failed as they must)"
