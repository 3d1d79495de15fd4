#!/usr/bin/env bash
# The negative control of test_corruption.sh: the same damage to data.mdb with the state seal
# removed first (CALLRAFT_CORRUPTION_NO_SEAL=1, the node as it was before node/state_seal.c) must
# fail: LMDB keeps no page checksums, so the node starts on its damaged state without a word. If
# it passed, the corruption test could not tell the seal's detection from none.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_corruption_control.sh BUILD_DIR}" && pwd)
out=$(mktemp /tmp/callraft-corruption-control.XXXXXX)
trap 'rm -f "$out"' EXIT
CALLRAFT_CORRUPTION_NO_SEAL=1 bash "$(dirname "$0")/test_corruption.sh" "$BUILD" >"$out" 2>&1
rc=$?
grep -E "^(---|FAIL|PASS)" "$out" | head -20
if [ $rc -eq 0 ]; then
  echo "FAIL: the corruption test passed without the state seal: it cannot see a damaged data.mdb" >&2
  exit 1
fi
grep -q "FAIL: flip: node [0-9] did not report its damaged data.mdb" "$out" ||
  { echo "FAIL: the control failed, but not by an unseen bit flip:" >&2; tail -30 "$out" >&2; exit 1; }
echo "PASS (the control run failed as it must)"
