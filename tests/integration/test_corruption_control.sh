#!/usr/bin/env bash
# The negative controls of test_corruption.sh; each run must fail, and by the damage going unseen:
#   seal:     the same damage to data.mdb with the state seal removed first (the node as it was
#             before node/state_seal.c): LMDB keeps no page checksums, so the node starts on its
#             damaged state without a word;
#   snapshot: the flipped snapshot image rewritten as format 1 (no checksum, as images were before
#             state/checksum.c): raft_uv checks only the .meta, so the node starts on it silently.
# If either passed, the corruption test could not tell the checks' detection from none.
source "$(dirname "$0")/lib.sh"
run_control "control 'seal'" "FAIL: flip: node [0-9] did not report its damaged data.mdb" \
  test_corruption.sh CALLRAFT_CORRUPTION_CONTROL=seal
run_control "control 'snapshot'" "FAIL: image: node [0-9] did not report its damaged snapshot" \
  test_corruption.sh CALLRAFT_CORRUPTION_CONTROL=snapshot
echo "PASS (both control runs failed as they must)"
