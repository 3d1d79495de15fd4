#!/usr/bin/env bash
# The site-loss scenario of issue 12 (deploy/drill/siteloss.sh), bounded to about a minute and
# checked for correctness only: Tehran, killed whole with an agent on a call, one holding an offer
# and callers waiting, is declared lost by the FSM by itself; no Tehran caller is offered live once
# the cluster knows it is out of contact; its callers become callbacks in their original order, the
# call in progress ends site-lost with a callback in its place, a redial keeps its place; Tehran is
# restored when it comes back. The timing bound is loose here (20 s): figures come from the drill.
# Without network namespaces the lab runs on loopback.
set -euo pipefail
BUILD=$(cd "${1:?usage: test_site_loss.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/callraft-siteloss-test.XXXXXX)
export CALLRAFT_BUILD=$BUILD CALLRAFT_LAB_NS=csl$$
for b in callraftd callraft callraft-delayproxy; do
  [ -x "$BUILD/$b" ] || { echo "SKIP: $BUILD/$b not built"; exit 0; }
done
loop=()
netns_mounted=0
mountpoint -q /run/netns 2>/dev/null && netns_mounted=1
if ip netns add "csl$$-probe" 2>/dev/null && ip netns exec "csl$$-probe" true 2>/dev/null; then
  ip netns delete "csl$$-probe"
else
  ip netns delete "csl$$-probe" 2>/dev/null || true
  [ $netns_mounted = 1 ] || umount /run/netns 2>/dev/null || true
  echo "--- network namespaces unavailable here: running the drill in --loopback mode"
  loop=(--loopback)
fi
cleanup() {
  local rc=$?
  [ $rc -eq 0 ] && rm -rf "$OUT" || echo "--- drill output kept in $OUT" >&2
  exit $rc
}
trap cleanup EXIT
timeout 240 "$ROOT/deploy/drill/siteloss.sh" --hold 12 --bound 20 --out "$OUT" "${loop[@]}"
echo PASS
