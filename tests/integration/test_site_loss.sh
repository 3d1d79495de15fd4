#!/usr/bin/env bash
# The site-loss scenario of issue 12 (deploy/drill/siteloss.sh), bounded to about a minute and
# checked for correctness only: Tehran, killed whole with an agent on a call, one holding an offer
# and callers waiting, is declared lost by the FSM by itself; no Tehran caller is offered live once
# the cluster knows it is out of contact; its callers become callbacks in their original order, the
# call in progress ends site-lost with a callback in its place, a redial keeps its place; Tehran is
# restored when it comes back. The timing bound is loose here (20 s): figures come from the drill.
# Without network namespaces the lab runs on loopback.
. "$(dirname "$0")/drill_lib.sh" "${1:?usage: test_site_loss.sh BUILD_DIR}" siteloss-test csl \
  callraftd callraft callraft-delayproxy
loop=()
if ! drill_netns; then
  echo "--- network namespaces unavailable here: running the drill in --loopback mode"
  loop=(--loopback)
fi
timeout 240 "$ROOT/deploy/drill/siteloss.sh" --hold 12 --bound 20 --out "$OUT" "${loop[@]}"
echo PASS
