#!/usr/bin/env bash
# siteloss.sh: the site-loss drill (issue 12, docs/routing.md). On the three-city lab, Tehran is
# killed whole (SIGKILL of its nodes, its PBX and its agents' desktops) with an agent on a call,
# an agent holding an offer and callers waiting, and kept down past the loss time. Checks, each a
# line of the report:
#   loss      the FSM declares Tehran lost within --bound seconds of the kill (default 10), by
#             itself (nobody types `site down`), and every node logs it with the evidence;
#   held      until then no Tehran caller is offered as a live call to a Shiraz agent (the queue
#             overflows at once, so without the hold rule they would be);
#   order     every Tehran caller is a callback afterwards, in the original queue order;
#   offer     the caller offered to the Tehran agent is back in place, as a callback;
#   in-call   the call in progress is ENDED with outcome site-lost and a callback in its place;
#   redial    a Tehran caller who dials again at Shiraz while held keeps the place: one call;
#   restored  once Tehran is back (nodes and PBX), the FSM restores it by itself.
#
#   deploy/drill.sh --fault site-loss [--hold S] [--out DIR] [--loopback]
#   deploy/drill/siteloss.sh [--hold S] [--bound S] [--out DIR] [--loopback]
# Exit 0 only if every check passes. Environment: CALLRAFT_BUILD, CALLRAFT_LAB_NS (default crs),
# CALLRAFT_PORT_BASE (loopback mode).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${CALLRAFT_BUILD:-$here/build}
hold=20 bound=10 loop=()
out=/tmp/callraft-siteloss-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
  case "$1" in
    --hold) hold=$2; shift 2;;
    --bound) bound=$2; shift 2;;
    --loopback) loop=(--loopback); shift;;
    --out) out=$2; shift 2;;
    *) sed -n '2,20p' "$0"; exit 2;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
export CALLRAFT_BUILD=$build CALLRAFT_LAB=$out/lab CALLRAFT_LAB_NS=${CALLRAFT_LAB_NS:-crs}
export CALLRAFT_PORT_BASE=${CALLRAFT_PORT_BASE:-$((20000 + (RANDOM % 50) * 200))}
LAB=$here/deploy/lab/lab.sh
CLI=$build/callraft
bg_t=() bg_s=()

cleanup() {
  local rc=$?
  for p in "${bg_t[@]}" "${bg_s[@]}"; do kill "$p" 2>/dev/null || true; done
  "$LAB" down >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
say() { echo "siteloss: $(date +%T) $*"; }
ALL= TEH= SHI=
# Clients of a site run inside it and talk to every node (their own site's first).
cli_at() { local s=$1; shift; "$LAB" exec "$s" "$CLI" --cluster "$([ "$s" = tehran ] && echo "$TEH" || echo "$SHI"),$ALL" --timeout 3000 "$@"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
call_json() { cli_at shiraz --json call show "$1"; }
field() { call_json "$1" | jq_py "d['call'].get('$2', '')"; }
# loop SITE PERIOD CMD...: a background loop (the PBX's or the desktops' heartbeats).
loop() {
  local s=$1 p=$2; shift 2
  ( while :; do cli_at "$s" "$@" >/dev/null 2>&1 || true; sleep "$p"; done ) &
  if [ "$s" = tehran ]; then bg_t+=($!); else bg_s+=($!); fi
}

results=()
check() { # NAME OK(0/1) DETAIL
  local verdict=FAIL; [ "$2" = 1 ] && verdict=PASS
  results+=("$(printf '%-9s %s  %s' "$1" "$verdict" "$3")")
  echo "  $1: $verdict $3"
}

say "lab up"
"$LAB" up "${loop[@]}" > "$out/lab-up.txt"
"$LAB" wait-leader >/dev/null
ALL=$("$LAB" cluster) TEH=$("$LAB" cluster tehran) SHI=$("$LAB" cluster shiraz)

say "the centers open: PBXs beat, agents log in"
loop tehran 1 site heartbeat tehran
loop shiraz 1 site heartbeat shiraz
cli_at shiraz queue configure sales --overflow-after 0s --offer-timeout 60s >/dev/null
for a in t-a1 t-a2; do cli_at tehran agent login "$a" --site tehran --skills sales >/dev/null; done
cli_at shiraz agent login s-a1 --site shiraz --skills sales >/dev/null
loop tehran 5 agent heartbeat t-a1
loop tehran 5 agent heartbeat t-a2
loop shiraz 5 agent heartbeat s-a1
enq() { # ID SITE NUMBER
  cli_at "$2" call enqueue --call-id "$1" --queue sales --caller "$3" --site "$2" >/dev/null
  sleep 0.05
}
# t-a1 talks to tc0; t-a2 holds the offer of tc1; the rest wait, the two cities interleaved.
enq tc0 tehran +982100000000
tok=$(cli_at tehran --json call next --agent t-a1 | jq_py "d['call']['offer_token']")
cli_at tehran call answer tc0 --agent t-a1 --token "$tok" >/dev/null
enq tc1 tehran +982100000001
cli_at tehran call next --agent t-a2 >/dev/null
enq tc2 tehran +982100000002; enq sc1 shiraz +987100000001; enq tc3 tehran +982100000003
enq tc4 tehran +982100000004; enq sc2 shiraz +987100000002; enq tc5 tehran +982100000005
enq tc6 tehran +982100000006
order0=$(cli_at shiraz --json queue show sales | jq_py "' '.join(c['call_id'] for c in d['calls'])")
say "queue before: $order0 (tc0 in call with t-a1, tc1 offered to t-a2)"

say "kill tehran: nodes (SIGKILL), PBX and desktops"
for p in "${bg_t[@]}"; do kill "$p" 2>/dev/null || true; done
bg_t=()
t_kill=$(now_ms)
"$LAB" kill-site tehran >/dev/null
ghosts="" early="" offered="" redialled=0 redial_when=never t_lost=0
while [ $(( $(now_ms) - t_kill )) -lt $(( (bound + 10) * 1000 )) ]; do
  # What the cluster knows of Tehran now: held (out of contact) or down.
  st=$(cli_at shiraz --json site list 2>/dev/null |
       jq_py "(lambda s: ('down' if s['down'] else 'held' if s.get('out_of_contact') else 'up'))([s for s in d['sites'] if s['site']=='tehran'][0])" 2>/dev/null || echo unknown)
  [ "$st" = down ] && t_lost=$(now_ms)
  # tc4's caller hangs up on the dead city and dials again at Shiraz: while held if the drill sees
  # Tehran held (a loaded machine may take longer per round than the hold lasts), else just after
  # the conversion; either way the redial must take tc4's place (docs/routing.md, section 5).
  if [ $redialled = 0 ] && { [ "$st" = held ] || [ "$st" = down ]; }; then
    enq tc4-again shiraz +982100000004
    redialled=1 redial_when=$st
  fi
  [ "$st" = down ] && break
  # s-a1 asks for work as fast as a desktop would; whatever it gets it declines (place kept).
  r=$(cli_at shiraz --json call next --agent s-a1 2>/dev/null || true)
  if [ -n "$r" ]; then
    id=$(echo "$r" | jq_py "d['call']['call_id']")
    site=$(echo "$r" | jq_py "d['call'].get('arrival_site','')")
    cb=$(echo "$r" | jq_py "d['call'].get('callback', False)")
    tok=$(echo "$r" | jq_py "d['call']['offer_token']")
    offered="$offered $id@+$(( $(now_ms) - t_kill ))ms"
    if [ "$site" = tehran ] && [ "$cb" != True ]; then
      # Offered while the cluster already knew Tehran out of contact: a ghost offer. Before that
      # (the first contact_timeout after the kill) nobody can know the caller is gone.
      if [ "$st" = held ]; then ghosts="$ghosts $id"; else early="$early $id"; fi
    fi
    cli_at shiraz call reject "$id" --agent s-a1 --token "$tok" >/dev/null 2>&1 || true
  fi
  sleep 0.2
done
# The FSM's own decision times, from the nodes' logs (every node logs it at the same index).
log_ms() { # PATTERN -> the earliest wall-clock ms of a log line matching it, or -1
  python3 - "$1" "$out"/lab/node*/log <<'PY'
import sys, datetime, json
pat, best = sys.argv[1], None
for p in sys.argv[2:]:
    for line in open(p, errors="replace"):
        if pat in line:
            # node/log.h: "time=... " (key=value) or {"time":"...",...} ([log] format = json)
            stamp = json.loads(line)["time"] if line.startswith("{") else line.split()[0]
            stamp = stamp[5:] if stamp.startswith("time=") else stamp
            t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
            ms = int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
            best = ms if best is None or ms < best else best
print(best if best is not None else -1)
PY
}
held_at=$(log_ms "site 'tehran' out of contact")
lost_at=$(log_ms "site 'tehran' lost")
loss_ms=$(( lost_at > 0 ? lost_at - t_kill : -1 ))
held_ms=$(( held_at > 0 ? held_at - t_kill : -1 ))
say "tehran held ${held_ms} ms, lost ${loss_ms} ms after the kill (seen by the drill after $(( t_lost > 0 ? t_lost - t_kill : -1 )) ms); offers to s-a1:${offered:- none}"
reason=$(cli_at shiraz --json site list | jq_py "[s for s in d['sites'] if s['site']=='tehran'][0]['down_reason']")
logged=$(grep -l "site 'tehran' lost" "$out"/lab/node*/log 2>/dev/null | wc -l)
check loss $([ "$loss_ms" -ge 0 ] && [ "$loss_ms" -le $((bound * 1000)) ] && [ "$t_lost" -gt 0 ] && echo 1 || echo 0) \
  "held ${held_ms} ms and declared lost ${loss_ms} ms after the kill (bound ${bound} s), logged by $logged node(s): $reason"
check held $([ -z "$ghosts" ] && echo 1 || echo 0) \
  "Tehran callers offered live once held:${ghosts:- none} (offered before the FSM could know, then withdrawn:${early:- none})"

sleep 1
order=$(cli_at shiraz --json queue show sales | jq_py "' '.join(c['call_id'] for c in d['calls'])")
cb0=$(field tc0 callback_id)
want="$cb0 tc1 tc2 sc1 tc3 tc4-again sc2 tc5 tc6"
ok=1
for c in tc1 tc2 tc3 tc5 tc6 "$cb0"; do [ "$(field "$c" callback)" = True ] || ok=0; done
check order $([ "$order" = "$want" ] && [ $ok = 1 ] && echo 1 || echo 0) "queue after: $order (want: $want; every Tehran caller a callback: $ok)"
check offer $([ "$(field tc1 state)" = waiting ] && [ "$(field tc1 callback)" = True ] && echo 1 || echo 0) \
  "tc1 (offered to t-a2): $(field tc1 state), callback $(field tc1 callback)"
check in-call $([ "$(field tc0 state)" = ended ] && [ "$(field tc0 outcome)" = site-lost ] && [ -n "$cb0" ] &&
  [ "$(field "$cb0" origin_call_id)" = tc0 ] && echo 1 || echo 0) \
  "tc0 (in call with t-a1): $(field tc0 state) $(field tc0 outcome), callback $cb0 for $(field "$cb0" callback_number)"
check redial $([ "$(field tc4 merged_into)" = tc4-again ] && [ "$(field tc4-again merged_from)" = tc4 ] && echo 1 || echo 0) \
  "tc4: $(field tc4 state) merged into '$(field tc4 merged_into)' (the redial came with Tehran $redial_when)"

rest=$(( hold * 1000 - ($(now_ms) - t_kill) ))
[ $rest -gt 0 ] && { say "hold tehran down $((rest / 1000)) s more"; sleep $((rest / 1000)); }
say "restart tehran and its PBX"
"$LAB" restart-site tehran >/dev/null
loop tehran 1 site heartbeat tehran
t_back=$(now_ms) back=False
while [ $(( $(now_ms) - t_back )) -lt 30000 ]; do
  back=$(cli_at shiraz --json site list 2>/dev/null |
         jq_py "not [s for s in d['sites'] if s['site']=='tehran'][0]['down']" 2>/dev/null || echo False)
  [ "$back" = True ] && break
  sleep 0.5
done
check restored $([ "$back" = True ] && echo 1 || echo 0) "tehran up again $(( $(now_ms) - t_back )) ms after its restart"

{
  echo "site-loss drill ($(date -u +%FT%TZ)); lab: $(head -1 "$out/lab-up.txt")"
  printf '%s\n' "${results[@]}"
} > "$out/report.txt"
echo "siteloss: report $out/report.txt"
! printf '%s\n' "${results[@]}" | grep -q ' FAIL '
