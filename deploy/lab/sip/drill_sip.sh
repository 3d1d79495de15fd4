#!/usr/bin/env bash
# drill_sip.sh: the SIP site-kill drill (issue 17, docs/telephony.md "The SIP drill").
#
#   deploy/lab/sip/drill_sip.sh [--rate 20] [--duration 40] [--kill-at 20] [--site leader|tehran|shiraz]
#                               [--agents N] [--redials N] [--redial-after S] [--out DIR] [--keep]
#
# A fresh lab and SIP layer (sip.sh up, N agents per site; default 6 x rate, enough for the whole
# load at one site); callers through the carrier at --rate calls/s for --duration s (10 % hang up
# while waiting); at --kill-at s SIGKILL of a whole site (its nodes, its Kamailio, its phones; the
# leader's site by default); the callers run out (bounded: their patience is 60 s); then the
# report (report_sip.py) from SIPp's own logs and statistics, the carrier's log, callraft's event
# stream (read from a surviving node) and the nodes' logs: report.txt, report.json, timeline.svg
# in DIR. --redial-after S (default 4) after the kill, up to --redials N (default 10) of the callers
# waiting at the killed site (queued there before the kill, not answered: redialers.py) dial the
# same number again from the same caller's number (issue 12's redial rule: they keep their place;
# the report counts those whose new call took over the earlier one's place). The lab is torn down
# at the end (--keep leaves it up).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rate=20 duration=40 kill_at=20 site=leader agents="" out="" keep=0 redials=10 redial_after=4
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2;;
    --duration) duration=$2; shift 2;;
    --kill-at) kill_at=$2; shift 2;;
    --site) site=$2; shift 2;;
    --agents) agents=$2; shift 2;;
    --out) out=$2; shift 2;;
    --keep) keep=1; shift;;
    --redials) redials=$2; shift 2;;
    --redial-after) redial_after=$2; shift 2;;
    *) echo "drill_sip.sh: unknown option '$1'" >&2; exit 2;;
  esac
done
[ "$kill_at" -lt "$duration" ] || { echo "drill_sip.sh: --kill-at must be within --duration" >&2; exit 2; }
agents=${agents:-$((rate * 6))}
export SIP_ASYNC_WORKERS=${SIP_ASYNC_WORKERS:-192} SIP_CHILDREN=${SIP_CHILDREN:-64}
out=${out:-/tmp/sip-drill-$(date +%s)}
mkdir -p "$out"
lab=${CALLRAFT_LAB:-/tmp/callraft-lab}
sip="$here/sip.sh"
run=d$(date +%s)

"$sip" down >/dev/null 2>&1 || true
"$sip" up --agents "$agents" | tee "$out/up.log"
if [ "$site" = leader ]; then
  l=$("$here/../lab.sh" leader)
  site=$("$here/../lab.sh" site-of "$l")
  case "$site" in tehran|shiraz) ;; *) site=tehran;; esac
fi
survivor=tehran; [ "$site" = tehran ] && survivor=shiraz
echo "drill: $((rate * duration)) callers at $rate/s; site $site killed at +${kill_at}s; $agents agents per site" | tee "$out/plan.txt"
t0=$(date +%s.%N)
"$sip" calls-bg --rate "$rate" --count $((rate * duration)) --impatient 10 --run "$run" --out "$out/calls"
sleep "$kill_at"
t_kill=$(date +%s.%N)
"$sip" kill-site "$site" | tee "$out/kill.log"
echo "$t0 $t_kill $site $survivor" > "$out/times"
if [ "$redials" -gt 0 ]; then
  sleep "$redial_after"
  python3 "$here/redialers.py" --callers "$out/calls/callers.log" --carrier "$lab/sip/carrier/kamailio.log" \
    --site "$site" --site-log "$lab/sip/$site/kamailio.log" --kill "$t_kill" --count "$redials" > "$out/redial.csv"
  n=$(($(wc -l < "$out/redial.csv") - 1))
  if [ "$n" -gt 0 ]; then
    "$sip" calls-bg --csv "$out/redial.csv" --rate 5 --count "$n" --port 5071 --run "${run}r" --out "$out/redials"
  fi
fi
# The callers run out: all placed after --duration, then at most their patience (60 s) + 30 s.
pid=$(cat "$out/calls/caller.pid")
deadline=$((SECONDS + duration - kill_at + 100))
while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 1; done
# Past the bound: stop the callers' process group (SIPp with it; sip.sh stop-callers).
if kill -0 "$pid" 2>/dev/null; then echo "drill: callers still running after the bound: stopping them"; fi
"$sip" stop-callers "$out/calls"
if [ -f "$out/redials/caller.pid" ]; then
  pid=$(cat "$out/redials/caller.pid")
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $((deadline + 30)) ]; do sleep 1; done
  "$sip" stop-callers "$out/redials"
fi
sleep 2
"$sip" collect "$out/calls" "$survivor"
for f in "$lab"/node*/log; do n=${f%/log}; cp "$f" "$out/$(basename "$n").log"; done
cat "$out/calls/callers.log" > "$out/calls/all-callers.log"
[ -f "$out/redials/callers.log" ] && cat "$out/redials/callers.log" >> "$out/calls/all-callers.log"
python3 "$here/check_sip.py" --callers "$out/calls/all-callers.log" --phones "$out/calls/phones-tehran.log" \
  --phones "$out/calls/phones-shiraz.log" --events "$out/calls/events.sse" --agents "$out/calls/agents.json" \
  --carrier "$out/calls/kamailio-carrier.log" --json "$out/check.json" > "$out/check.txt" || true
python3 "$here/report_sip.py" --dir "$out" | tee "$out/report.txt"
[ $keep = 1 ] || "$sip" down >/dev/null 2>&1 || true
echo "drill: report in $out/report.txt, plot in $out/timeline.svg"
