#!/usr/bin/env bash
# The wallboard (web/wallboard.html, served by every node at /) in a real browser: Debian's headless
# Chromium, driven by tests/integration/wallboard_driver.py over the DevTools protocol with Debian's
# python3-websocket (both from deploy/install-deps.sh: no npm, no downloaded browser). A 2+2+1
# cluster; the page is opened on a
# Tehran node; calls are driven with the CLI and the page's DOM must show the numbers they make, per
# city and per queue, the leader and every member healthy. Then Tehran is SIGKILLed whole (both
# nodes, its PBX's and agent's heartbeats): the page must move to a surviving member by itself, show
# both Tehran members unreachable, the site-lost banner once the FSM declares the loss (docs/routing.md),
# and the same queue figures as a survivor's /v1/stats (today's, as the page shows). Screenshots before and after the kill are
# kept in the directory printed at the end (WALLBOARD_SHOTS to choose it).
# A missing Chromium or python3-websocket fails the test (deploy/install-deps.sh installs both).
# Plain HTTP: the page is what is tested; a browser with a client certificate is docs/security.md's.
export CALLRAFT_INSECURE=1
source "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PY=/usr/bin/python3  # Debian's, where python3-websocket is installed
[ -x "$CHROMIUM" ] || fail "no $CHROMIUM: run deploy/install-deps.sh (Debian's chromium)"
"$PY" -c 'import websocket' 2>/dev/null || fail "no python3-websocket: run deploy/install-deps.sh"
SHOTS=${WALLBOARD_SHOTS:-$(mktemp -d /tmp/callraft-wallboard-shots.XXXXXX)}
mkdir -p "$SHOTS"

BG=()
wb_cleanup() {
  local rc=$?
  set +e
  [ -z "${DRIVER:-}" ] || kill "$DRIVER" 2>/dev/null || true
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
  (exit $rc)
  cleanup
}
trap wb_cleanup EXIT
# every SECONDS CMD...: a background loop, as a PBX or an agent's desktop runs (PID in BG).
every() { local period=$1; shift; ( while true; do "$CLI" --cluster "$(cluster)" --timeout 2000 "$@" >/dev/null 2>&1 || true; sleep "$period"; done ) & BG+=($!); }

step "start a 2+2+1 cluster (tehran: 1 2, shiraz: 3 4, witness: 5)"
"$CLUSTER_SH" up 2+2+1 >/dev/null
wait_leader >/dev/null
C() { "$CLI" --cluster "$(cluster)" --timeout 5000 "$@"; }
every 1 site heartbeat tehran; T_BG=("${BG[@]}")
"$CLI" --cluster "$(cluster)" agent login t-a1 --site tehran --skills sales >/dev/null
every 3 agent heartbeat t-a1; T_BG+=("${BG[-1]}")
every 1 site heartbeat shiraz
"$CLI" --cluster "$(cluster)" agent login s-a1 --site shiraz --skills roadside >/dev/null
every 3 agent heartbeat s-a1

step "drive calls: 3 sales calls in Tehran (one answered, one abandoned), 2 roadside calls in Shiraz"
for i in 1 2 3; do C call enqueue --call-id "t$i" --queue sales --caller "0912000000$i" --site tehran >/dev/null; done
for i in 1 2; do C call enqueue --call-id "s$i" --queue roadside --caller "0917000000$i" --site shiraz >/dev/null; done
offer=$(C call next --agent t-a1)
call=$(awk '$1 == "call:" { print $2 }' <<<"$offer")
token=$(awk '$1 == "token:" { print $2 }' <<<"$offer")
[ "$call" = t1 ] || fail "t-a1 was offered '$call', expected t1 (first in): $offer"
C call answer "$call" --agent t-a1 --token "$token" >/dev/null
C call abandon t3 >/dev/null

step "open the page on node 1 (Tehran) in headless Chromium"
HTTP1="127.0.0.1:$((CALLRAFT_PORT_BASE + 201))"
coproc DRV { CHROMIUM="$CHROMIUM" exec "$PY" "$ROOT/tests/integration/wallboard_driver.py" "http://$HTTP1/"; }
DRIVER=$DRV_PID  # bash unsets DRV_PID when the coprocess ends
page() { # page CMD...: one driver command; prints its answer; fails the test on "fail"
  local line
  echo "$*" >&"${DRV[1]}"
  IFS= read -r -t 120 line <&"${DRV[0]}" || fail "the browser driver did not answer '$*'"
  [[ $line == ok* ]] || fail "page: $* -> $line"
  echo "${line#ok }"
}
IFS= read -r -t 60 first <&"${DRV[0]}" || fail "the browser driver did not start"
[ "$first" = "ok loaded" ] || fail "page did not load: $first"
cell() { echo "document.querySelector('[data-$1=\"$2\"] [data-k=$3]')?.dataset.v"; }
# The numbers the calls made, per city and per queue.
page wait 15000 "$(cell site tehran waiting) === '1' && $(cell site tehran answered) === '1' && $(cell site tehran abandoned) === '1'" >/dev/null
page wait 5000 "$(cell site shiraz waiting) === '2' && $(cell site shiraz answered) === '0'" >/dev/null
page wait 5000 "$(cell queue sales waiting) === '1' && $(cell queue sales answered) === '1' && $(cell queue sales abandoned) === '1' && $(cell queue roadside waiting) === '2'" >/dev/null
page wait 5000 "document.querySelector('[data-site=tehran] [data-agent-state=ON_CALL]')?.dataset.v === '1' && document.querySelector('[data-site=shiraz] [data-agent-state=AVAILABLE]')?.dataset.v === '1'" >/dev/null
leader=$(wait_leader)
page wait 5000 "document.getElementById('leader').dataset.v === '$leader'" >/dev/null
page wait 10000 "document.querySelectorAll('#members tr[data-health=up]').length === 5" >/dev/null
[ "$(page eval "document.querySelectorAll('[data-banner=lost]').length")" = 0 ] || fail "a site-lost banner before any loss"
[ "$(page eval "document.querySelector('#source').textContent.includes('$HTTP1')")" = true ] || fail "the page does not read from its own node"
page shot "$SHOTS/wallboard-before.png" >/dev/null

step "SIGKILL Tehran: nodes 1 and 2, its PBX's and agent's heartbeats"
for p in "${T_BG[@]}"; do kill "$p" 2>/dev/null || true; done
t0=$SECONDS
"$CLUSTER_SH" kill 1 KILL
"$CLUSTER_SH" kill 2 KILL
# The page leaves its dead node for a survivor, sees both Tehran members unreachable...
page wait 20000 "document.body.dataset.connected === '1' && !document.querySelector('#source').textContent.includes('$HTTP1') && document.querySelectorAll('#members tr[data-health=down]').length === 2 && document.querySelector('#members tr[data-member=\"1\"]').dataset.health === 'down'" >/dev/null
echo "page reading from $(page eval "document.querySelector('#source').textContent") $((SECONDS - t0)) s after the kill"
# ...and shows the banner once the FSM declares Tehran lost (about 10 s, docs/routing.md).
page wait 40000 "document.querySelector('[data-banner=lost][data-site=tehran]') !== null && document.querySelector('.site[data-site=tehran]').classList.contains('down')" >/dev/null
echo "site-lost banner $((SECONDS - t0)) s after the kill"
page wait 5000 "document.querySelectorAll('[data-banner=lost]').length === 1" >/dev/null
leader=$(wait_leader)
page wait 10000 "document.getElementById('leader').dataset.v === '$leader'" >/dev/null
# The page's queue figures are a survivor's (same read: /v1/stats?stale=true).
survivor="127.0.0.1:$((CALLRAFT_PORT_BASE + 203))"
for q in sales roadside; do
  for k in waiting answered abandoned; do
    want=$(curl -sf --max-time 5 "http://$survivor/v1/stats?stale=true&interval=today&queue=$q" |
      python3 -c "import json,sys; s=json.load(sys.stdin)['stats']; print(next((x.get('$k',0) for x in s if x['scope']=='queue'), 0))")
    page wait 10000 "$(cell queue $q $k) === '$want'" >/dev/null
  done
done
page wait 5000 "$(cell site shiraz waiting) === '2'" >/dev/null
page shot "$SHOTS/wallboard-after.png" >/dev/null
step "the page in Persian, right to left (?lang=fa), from node 3"
page goto "http://$survivor/?lang=fa" >/dev/null
page wait 10000 "document.documentElement.dir === 'rtl' && document.documentElement.lang === 'fa' && document.querySelector('.site[data-site=shiraz] h2')?.textContent.startsWith('شیراز') && $(cell site shiraz waiting) === '2'" >/dev/null
page shot "$SHOTS/wallboard-fa.png" >/dev/null
echo quit >&"${DRV[1]}"
for _ in $(seq 50); do kill -0 "$DRIVER" 2>/dev/null || break; sleep 0.2; done
echo "screenshots: $SHOTS/wallboard-before.png $SHOTS/wallboard-after.png $SHOTS/wallboard-fa.png"
echo PASS
