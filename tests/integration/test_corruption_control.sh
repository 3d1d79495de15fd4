#!/usr/bin/env bash
# The negative controls of test_corruption.sh; each run must fail, and by the damage going unseen:
#   seal:     the same damage to data.mdb with the state seal removed first (the node as it was
#             before node/state_seal.c): LMDB keeps no page checksums, so the node starts on its
#             damaged state without a word;
#   snapshot: the flipped snapshot image rewritten as format 1 (no checksum, as images were before
#             state/checksum.c): raft_uv checks only the .meta, so the node starts on it silently.
# If either passed, the corruption test could not tell the checks' detection from none.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_corruption_control.sh BUILD_DIR}" && pwd)
out=$(mktemp /tmp/callraft-corruption-control.XXXXXX)
trap 'rm -f "$out"' EXIT
for control in seal snapshot; do
  CALLRAFT_CORRUPTION_CONTROL=$control bash "$(dirname "$0")/test_corruption.sh" "$BUILD" >"$out" 2>&1
  rc=$?
  grep -E "^(---|FAIL|PASS)" "$out" | head -20
  if [ $rc -eq 0 ]; then
    echo "FAIL: the corruption test passed with control '$control': it cannot see that damage" >&2
    exit 1
  fi
  case $control in
    seal) want="FAIL: flip: node [0-9] did not report its damaged data.mdb" ;;
    snapshot) want="FAIL: image: node [0-9] did not report its damaged snapshot" ;;
  esac
  grep -q "$want" "$out" ||
    { echo "FAIL: control '$control' failed, but not by unseen damage:" >&2; tail -30 "$out" >&2; exit 1; }
done
echo "PASS (both control runs failed as they must)"
